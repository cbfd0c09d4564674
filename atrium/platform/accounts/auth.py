"""The auth API of a tenant (``/api/v1/auth/``): sign in, refresh, verify, log out.

These four views are the only tenant endpoints without authentication: they are where a
token comes from. Every token they accept or issue belongs to the tenant of the host
(``tokens.py``); every refusal is a 401 in the one error shape.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES
from rest_framework_simplejwt.settings import api_settings

from atrium.errors import error_body
from atrium.platform.api.schema import AutoSchema, error_response
from atrium.platform.api.throttling import LoginUnavailable, enforce_login_rate

from .authentication import token_failure
from .serializers import CanonicalEmailField
from .tokens import (
    TokenError,
    refresh_token_revoke,
    token_pair_issue,
    token_pair_rotate,
    token_verify,
)

# One message for an unknown e-mail, a wrong password and a deactivated account, so the
# answer never tells whether an address has an account here.
INVALID_CREDENTIALS = "No active account matches this e-mail and password. Check both and retry."


# ------------------------------------------------------------------------ serializers
class TokenObtainSerializer(serializers.Serializer):
    """E-mail (any spelling of it) and password → a new access + refresh pair of this tenant."""

    email = CanonicalEmailField(write_only=True, max_length=254)
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=4096, style={"input_type": "password"}
    )
    access = serializers.CharField(read_only=True, help_text="Access token (Bearer).")
    refresh = serializers.CharField(read_only=True, help_text="Refresh token, single use.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        request = self.context["request"]
        email = attrs["email"]  # canonical: the lookup and the throttle key compare this form
        # Counted before the password is checked, so wrong guesses spend the budget too.
        enforce_login_rate(request, email)
        # ModelBackend hashes a dummy password for unknown e-mails (equal timing) and
        # refuses inactive users; the lookup compares canonical e-mails (UserManager).
        user = authenticate(request=request, email=email, password=attrs["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed(INVALID_CREDENTIALS, "invalid_credentials")
        pair = token_pair_issue(user=user)
        if api_settings.UPDATE_LAST_LOGIN:
            update_last_login(None, user)
        return {"access": pair.access, "refresh": pair.refresh}


class TokenRefreshSerializer(serializers.Serializer):
    """Spends a refresh token (it is blacklisted) and returns a new pair in its place."""

    refresh = serializers.CharField(help_text="In: the refresh token to spend. Out: its successor.")
    access = serializers.CharField(read_only=True, help_text="A new access token.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            pair = token_pair_rotate(refresh=attrs["refresh"])
        except TokenError as error:
            raise token_failure(error) from None
        return {"access": pair.access, "refresh": pair.refresh}


class TokenVerifySerializer(serializers.Serializer):
    """Checks a token of either type: this tenant's, unexpired, not blacklisted, user active."""

    token = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            token_verify(token=attrs["token"])
        except TokenError as error:
            raise token_failure(error) from None
        return {}


class TokenBlacklistSerializer(serializers.Serializer):
    """Logs out: blacklists a refresh token of this tenant so it can never be spent."""

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            refresh_token_revoke(refresh=attrs["refresh"])
        except TokenError as error:
            raise token_failure(error) from None
        return {}


# ------------------------------------------------------------- OpenAPI: error bodies
# The codes of each status come from the registry of error codes (errors.py of this app).


def _error_example(name: str, status_code: int, code: str, detail: str) -> OpenApiExample:
    return OpenApiExample(
        name,
        value=error_body(status_code, code, detail),
        status_codes=[str(status_code)],
        response_only=True,
    )


EXAMPLE_ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJl"
EXAMPLE_REFRESH = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"
)
PAIR_EXAMPLE = OpenApiExample(
    "A new token pair",
    value={"access": EXAMPLE_ACCESS, "refresh": EXAMPLE_REFRESH},
    status_codes=["200"],
    response_only=True,
)
TOKEN_REFUSED_EXAMPLE = _error_example(
    "Token refused",
    401,
    "token_not_valid",
    "Token is blacklisted. Sign in again to get a new token.",
)
USER_INACTIVE_EXAMPLE = _error_example(
    "Account deactivated",
    401,
    "user_inactive",
    "The account of this token is deactivated. Sign in with an active account.",
)
TOKEN_401 = error_response(
    401,
    "The token is malformed, expired, blacklisted, of the wrong type, or belongs to "
    "another tenant (`token_not_valid`); its account is deactivated (`user_inactive`); or "
    "it was revoked by a logout or a change of password or role (`token_revoked`).",
)


class _TokenEndpointSchema(AutoSchema):
    """Drops the library's generic 401 examples (``not_authenticated``…): these endpoints
    never answer with them, and their own 401 examples are declared per view."""

    def _get_error_response_examples(self) -> list[OpenApiExample]:
        return [e for e in super()._get_error_response_examples() if "401" not in e.status_codes]


# ------------------------------------------------------------------------------ views
class _TokenEndpoint(APIView):
    """Runs one serializer whose ``validate`` does the work (simplejwt's contract)."""

    schema = _TokenEndpointSchema()
    serializer_class: type[serializers.Serializer]

    def get_authenticate_header(self, request: Request) -> str:
        # With no authenticators DRF turns a 401 into a 403; a refused token is a 401.
        return f'{AUTH_HEADER_TYPES[0]} realm="api"'

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.Serializer:
        kwargs.setdefault("context", {"request": self.request, "view": self})
        return self.serializer_class(*args, **kwargs)

    def run(self, request: Request) -> dict[str, Any]:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class TokenObtainView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: this is where credentials come in
    permission_classes = [AllowAny]
    serializer_class = TokenObtainSerializer

    @extend_schema(
        tags=["auth"],
        summary="Sign in",
        description="Exchanges an e-mail (any spelling: compared in its canonical form) "
        "and password for an access "
        "token (send it as `Authorization: Bearer <access>`) and a single-use refresh "
        "token. Both belong to this tenant and are refused on any other. An unknown "
        "e-mail, a wrong password and a deactivated account all get the same 401. "
        "Attempts are limited per e-mail and per client address (429).",
        request=TokenObtainSerializer,
        responses={
            200: TokenObtainSerializer,
            401: error_response(401, "The e-mail and password do not match an active account."),
            429: error_response(
                429,
                "Too many attempts for this e-mail or from this address; retry after "
                "`Retry-After` seconds.",
            ),
            503: error_response(
                503,
                "Sign-in cannot be rate-limited right now, so it is refused (or the "
                "database is unavailable); retry after `Retry-After` seconds.",
            ),
        },
        examples=[
            OpenApiExample(
                "Credentials",
                value={"email": "dana@acme.test", "password": "correct horse battery staple"},
                request_only=True,
            ),
            PAIR_EXAMPLE,
            _error_example("Wrong credentials", 401, "invalid_credentials", INVALID_CREDENTIALS),
            _error_example(
                "Login unavailable",
                503,
                LoginUnavailable.code,
                LoginUnavailable.message_template,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        return Response(self.run(request), status=status.HTTP_200_OK)


class TokenRefreshView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: the refresh token is the credential
    permission_classes = [AllowAny]
    serializer_class = TokenRefreshSerializer

    @extend_schema(
        tags=["auth"],
        summary="Refresh the token pair",
        description="Spends a refresh token of this tenant and returns a new access and "
        "refresh token. A refresh token works once: it is blacklisted as it is spent, and "
        "of concurrent refreshes with the same token exactly one succeeds.",
        request=TokenRefreshSerializer,
        responses={200: TokenRefreshSerializer, 401: TOKEN_401},
        examples=[
            OpenApiExample("Refresh token", value={"refresh": EXAMPLE_REFRESH}, request_only=True),
            PAIR_EXAMPLE,
            TOKEN_REFUSED_EXAMPLE,
            USER_INACTIVE_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        return Response(self.run(request), status=status.HTTP_200_OK)


class TokenVerifyView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: the token to check is in the body
    permission_classes = [AllowAny]
    serializer_class = TokenVerifySerializer

    @extend_schema(
        tags=["auth"],
        summary="Verify a token",
        description="Answers 200 if the token (access or refresh) belongs to this tenant, "
        "is unexpired, not blacklisted, and its account is active; otherwise 401.",
        request=TokenVerifySerializer,
        responses={200: OpenApiResponse(description="The token is valid here."), 401: TOKEN_401},
        examples=[
            OpenApiExample("A token", value={"token": EXAMPLE_ACCESS}, request_only=True),
            TOKEN_REFUSED_EXAMPLE,
            USER_INACTIVE_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        return Response(self.run(request), status=status.HTTP_200_OK)


class LogoutView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: a stale session must still log out
    permission_classes = [AllowAny]
    serializer_class = TokenBlacklistSerializer

    @extend_schema(
        tags=["auth"],
        summary="Log out",
        description="Blacklists a refresh token of this tenant so it can never be spent "
        "again, and signs its user out everywhere: every access and refresh token of the "
        "user issued before stops working at once (401 `token_revoked`) and the user's open "
        "sockets are closed (4401 `logged_out`). A refresh token already outdated by an "
        "earlier logout or change of password or role is still blacklisted, and signs "
        "nobody out.",
        request=TokenBlacklistSerializer,
        responses={
            204: OpenApiResponse(
                description="Logged out: the refresh token is blacklisted and the user's "
                "tokens are revoked."
            ),
            401: TOKEN_401,
        },
        examples=[
            OpenApiExample("Refresh token", value={"refresh": EXAMPLE_REFRESH}, request_only=True),
            TOKEN_REFUSED_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        self.run(request)
        return Response(status=status.HTTP_204_NO_CONTENT)
