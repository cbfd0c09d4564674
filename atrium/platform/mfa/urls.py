"""Routes of the MFA API (mounted at ``/api/v1/auth/``: ``MfaConfig.api_prefix``)."""

from django.urls import path

from .views import TokenMfaView, TOTPViewSet

urlpatterns = [
    path(
        "mfa/totp/",
        TOTPViewSet.as_view({"post": "enrol", "delete": "disable"}),
        name="mfa-totp",
    ),
    path("mfa/totp/confirm/", TOTPViewSet.as_view({"post": "confirm"}), name="mfa-totp-confirm"),
    path("token/mfa/", TokenMfaView.as_view(), name="auth-token-mfa"),
]
