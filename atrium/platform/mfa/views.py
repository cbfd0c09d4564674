"""The MFA API (``/api/v1/auth/mfa/totp/…`` and ``/api/v1/auth/token/mfa/``). Its OpenAPI
documentation is in ``openapi.py``."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from atrium.platform.accounts.auth import _TokenEndpoint
from atrium.platform.accounts.permissions import IsPerson
from atrium.platform.api.views import TenantGenericViewSet

from . import openapi, services
from .serializers import (
    ConfirmSerializer,
    DisableSerializer,
    EnrolmentSerializer,
    TokenMfaSerializer,
)


@openapi.totp_viewset
class TOTPViewSet(TenantGenericViewSet):
    """Enrol (POST), confirm (POST confirm/) and turn off (DELETE) the caller's TOTP."""

    permissions = (IsPerson,)
    serializer_class = EnrolmentSerializer
    pagination_class = None

    @openapi.enrol
    def enrol(self, request: Request) -> Response:
        enrolment = services.totp_enrolment_start(user=request.user)
        body = {"otpauth_uri": enrolment.otpauth_uri, "qr_svg": enrolment.qr_svg}
        return Response(body, status=status.HTTP_201_CREATED)

    @openapi.confirm
    def confirm(self, request: Request) -> Response:
        data = self.validated(ConfirmSerializer)
        codes = services.totp_enrolment_confirm(
            user=request.user, code=data["code"], request=request
        )
        return Response({"recovery_codes": codes})

    @openapi.disable
    def disable(self, request: Request) -> Response:
        data = self.validated(DisableSerializer)
        services.totp_disable(user=request.user, request=request, **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


@openapi.token_mfa_view
class TokenMfaView(_TokenEndpoint):
    """The second step of a sign-in: mfa_token + code → a token pair."""

    authentication_classes = []  # opt-out by name: the mfa_token is the credential
    serializer_class = TokenMfaSerializer

    def run(self, request: Request) -> dict[str, Any]:
        data = super().run(request)
        pair, user = services.mfa_challenge_complete(request=request, **data)
        # The same answer as the password step would have given without MFA.
        return {
            "access": pair.access,
            "refresh": pair.refresh,
            "password_change_required": user.password_change_required,
        }
