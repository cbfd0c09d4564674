"""Request authentication with tenant-bound access tokens (``Authorization: Bearer …``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request
from rest_framework_simplejwt import exceptions as simplejwt_exceptions
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES, JWTAuthentication
from rest_framework_simplejwt.settings import api_settings

from atrium.tenants.context import NoTenantError

from .models import User
from .tokens import (
    InactiveUserError,
    RevokedTokenError,
    TenantAccessToken,
    TokenError,
    token_user,
)

# Every code a 401 of a token-authenticated route can carry (DRF's two, and ours below).
AUTHENTICATION_ERROR_CODES = (
    "not_authenticated",
    "authentication_failed",
    "bad_authorization_header",
    "token_not_valid",
    "user_inactive",
    "token_revoked",
)


def token_failure(error: TokenError) -> AuthenticationFailed:
    """The 401 for a refused token, as one plain error (simplejwt's own are nested dicts)."""
    if isinstance(error, InactiveUserError):
        return AuthenticationFailed(f"{error}. Sign in with an active account.", "user_inactive")
    if isinstance(error, RevokedTokenError):
        return AuthenticationFailed(f"{error}. Sign in again to get a new token.", "token_revoked")
    return AuthenticationFailed(f"{error}. Sign in again to get a new token.", "token_not_valid")


class PasswordChangeRequired(PermissionDenied):
    """403: the user's password is one-time, and this endpoint waits until it is changed."""

    default_code = "password_change_required"
    default_detail = (
        "Your password is one-time: change it first (POST /api/v1/auth/password/change/). "
        "Until then only that, logout and users/me/ answer."
    )


def allowed_before_password_change(view: Any) -> bool:
    """Whether ``view`` (its action, for a ViewSet) answers a user whose password is
    one-time: it says so with ``allowed_before_password_change``, True or action names.
    Read from the user row authentication loads anyway: the check costs no query."""
    allowed = getattr(view, "allowed_before_password_change", False)
    if allowed is True:
        return True
    return bool(allowed) and getattr(view, "action", None) in allowed


# Checks of every request a token authenticated, in order, given the request and its user;
# each raises a DRF exception to refuse (MFA adds one:
# ``atrium.platform.mfa.gate.enrolment_gate``).
AUTHENTICATED_REQUEST_CHECKS: list[Callable[[Any, User], None]] = []


class TenantJWTAuthentication(JWTAuthentication):
    """Accepts only access tokens of the current tenant, for active users of its schema.

    Unlike the parent it never consults ``AUTH_TOKEN_CLASSES``, so no configuration can
    let a token signed with the global key (or another tenant's) authenticate a request.
    """

    token_class = TenantAccessToken

    def authenticate(self, request: Request) -> tuple[User, TenantAccessToken] | None:
        result = super().authenticate(request)
        if result is not None:
            if result[0].password_change_required:
                view = (request.parser_context or {}).get("view")
                if not allowed_before_password_change(view):
                    raise PasswordChangeRequired()
            for check in AUTHENTICATED_REQUEST_CHECKS:
                check(request, result[0])
        return result

    def get_validated_token(self, raw_token: bytes) -> TenantAccessToken:
        try:
            return self.token_class.verified(raw_token)
        except TokenError as error:
            raise token_failure(error) from None
        except NoTenantError:
            # Outside a tenant (the platform host) no token can belong anywhere: fail closed.
            raise AuthenticationFailed(
                "Tokens are only accepted on a tenant's own host.", "token_not_valid"
            ) from None

    def get_user(self, validated_token: Any) -> User:
        try:
            return token_user(validated_token)
        except TokenError as error:
            raise token_failure(error) from None

    def get_raw_token(self, header: bytes) -> bytes | None:
        try:
            return super().get_raw_token(header)
        except simplejwt_exceptions.AuthenticationFailed:
            raise AuthenticationFailed(
                "Send the token as 'Authorization: Bearer <token>'.", "bad_authorization_header"
            ) from None


class TenantJWTScheme(OpenApiAuthenticationExtension):
    """OpenAPI: our class is a bearer JWT scheme (drf-spectacular matches exact classes)."""

    target_class = TenantJWTAuthentication
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name=api_settings.AUTH_HEADER_NAME,
            token_prefix=AUTH_HEADER_TYPES[0],
            bearer_format="JWT",
        )
