"""The auth API of a tenant (``/api/v1/auth/``): sign in, refresh, verify, log out, and
the password reset and e-mail confirmation that mailed tokens complete.

These views are the only tenant endpoints without authentication: they are where a
token comes from (or a mailed token is the credential). Every token they accept or issue belongs to the tenant of the host
(``tokens.py``); every refusal is a 401 in the one error shape. Their OpenAPI
documentation is in ``openapi.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.db import transaction
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES
from rest_framework_simplejwt.settings import api_settings

from atrium.platform.audit.services import audit_record

from . import openapi, services
from .authentication import token_failure
from .errors import INVALID_CREDENTIALS
from .serializers import CanonicalEmailField
from .throttling import enforce_login_rate, enforce_token_rate
from .tokens import (
    TokenError,
    refresh_token_revoke,
    token_pair_issue,
    token_pair_rotate,
    token_verify,
)


# ------------------------------------------------------------------------ serializers
@contextmanager
def _token_refusals() -> Iterator[None]:
    """A token the tokens module refuses is the API's 401 (``token_failure``)."""
    try:
        yield
    except TokenError as error:
        raise token_failure(error) from None


class TokenObtainSerializer(serializers.Serializer):
    """E-mail (any spelling of it) and password → a new access + refresh pair of this tenant."""

    email = CanonicalEmailField(write_only=True, max_length=254)
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=4096, style={"input_type": "password"}
    )
    access = serializers.CharField(read_only=True, help_text="Access token (Bearer).")
    refresh = serializers.CharField(read_only=True, help_text="Refresh token, single use.")
    password_change_required = serializers.BooleanField(
        read_only=True,
        help_text="The password is one-time: until it is changed "
        "(POST /api/v1/auth/password/change/), other endpoints answer 403 "
        "`password_change_required`.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        email = attrs["email"]  # canonical: the lookup and the throttle key compare this form
        # Counted before the password is checked, so wrong guesses spend the budget too.
        enforce_login_rate(request, email)
        # ModelBackend hashes a dummy password for unknown e-mails (equal timing) and
        # refuses inactive users; the lookup compares canonical e-mails (UserManager).
        user = authenticate(request=request, email=email, password=attrs["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed(INVALID_CREDENTIALS, "invalid_credentials")
        with transaction.atomic():
            pair = token_pair_issue(user=user, request=request)
            if api_settings.UPDATE_LAST_LOGIN:  # on in the settings: API logins set last_login
                update_last_login(None, user)
            audit_record("auth.login", target=user, actor=user, metadata={"via": "api"})
        return {
            "access": pair.access,
            "refresh": pair.refresh,
            "password_change_required": user.password_change_required,
        }


class TokenRefreshSerializer(serializers.Serializer):
    """Spends a refresh token (it is blacklisted) and returns a new pair in its place."""

    refresh = serializers.CharField(help_text="In: the refresh token to spend. Out: its successor.")
    access = serializers.CharField(read_only=True, help_text="A new access token.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        with _token_refusals():
            pair = token_pair_rotate(refresh=attrs["refresh"], request=self.context["request"])
        return {"access": pair.access, "refresh": pair.refresh}


class TokenVerifySerializer(serializers.Serializer):
    """Checks a token of either type: this tenant's, unexpired, not blacklisted, user active."""

    token = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with _token_refusals():
            token_verify(token=attrs["token"])
        return {}


class TokenBlacklistSerializer(serializers.Serializer):
    """Logs out: blacklists a refresh token of this tenant so it can never be spent."""

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        with _token_refusals():
            refresh_token_revoke(refresh=attrs["refresh"])
        return {}


class PasswordResetSerializer(serializers.Serializer):
    """Queues a reset mail for an address; the same answer and work whether it exists."""

    email = CanonicalEmailField(write_only=True, max_length=254)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        enforce_login_rate(self.context["request"], attrs["email"])
        services.password_reset_request(email=attrs["email"])
        return {}


class PasswordResetConfirmSerializer(serializers.Serializer):
    """Sets a new password with the token of a reset mail."""

    token = serializers.CharField(write_only=True, max_length=256)
    new_password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=128, style={"input_type": "password"}
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        enforce_token_rate(self.context["request"], attrs["token"])
        services.password_reset_confirm(token=attrs["token"], new_password=attrs["new_password"])
        return {}


class EmailConfirmSerializer(serializers.Serializer):
    """Makes the e-mail change that a confirmation mail's token names."""

    token = serializers.CharField(write_only=True, max_length=256)
    email = serializers.EmailField(read_only=True, help_text="The account's new e-mail.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        enforce_token_rate(self.context["request"], attrs["token"])
        return {"email": services.email_change_confirm(token=attrs["token"]).email}


# ------------------------------------------------------------------------------ views
class _TokenEndpoint(APIView):
    """Runs one serializer whose ``validate`` does the work (simplejwt's contract) and
    answers 200 with what it returns. Open to anyone: each view says by name why it takes no
    authentication (``authentication_classes = []``)."""

    schema = openapi.TokenEndpointSchema()
    permission_classes = [AllowAny]
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

    def post(self, request: Request) -> Response:
        return Response(self.run(request), status=status.HTTP_200_OK)


@openapi.token_obtain_view
class TokenObtainView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: this is where credentials come in
    serializer_class = TokenObtainSerializer


@openapi.token_refresh_view
class TokenRefreshView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: the refresh token is the credential
    serializer_class = TokenRefreshSerializer


@openapi.token_verify_view
class TokenVerifyView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: the token to check is in the body
    serializer_class = TokenVerifySerializer


@openapi.logout_view
class LogoutView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: a stale session must still log out
    serializer_class = TokenBlacklistSerializer

    def post(self, request: Request) -> Response:
        self.run(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@openapi.password_reset_view
class PasswordResetView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: who forgot a password has no token
    serializer_class = PasswordResetSerializer

    def post(self, request: Request) -> Response:
        self.run(request)
        return Response(
            {"detail": "If an account has this address, a reset link is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


@openapi.password_reset_confirm_view
class PasswordResetConfirmView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: the mailed token is the credential
    serializer_class = PasswordResetConfirmSerializer

    def post(self, request: Request) -> Response:
        self.run(request)
        return Response({"detail": "Password changed. Sign in with the new password."})


@openapi.email_confirm_view
class EmailConfirmView(_TokenEndpoint):
    authentication_classes = []  # opt-out by name: the mailed token is the credential
    serializer_class = EmailConfirmSerializer
