"""App config for MFA: mounts its API under ``/api/v1/auth/`` and hooks the sign-in."""

from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "atrium.platform.mfa"
    label = "mfa"
    default_auto_field = "django.db.models.BigAutoField"
    # Its routes are auth routes: auth/mfa/totp/…, auth/token/mfa/ (atrium.platform.api.urls).
    api_prefix = "auth/"
    # Run on a restored tenant by `tenants import`: a sign-in's second step started on the
    # source is not one of the copy's (devices and recovery codes come along: people's own).
    tenant_import_resets = ("DELETE FROM mfa_mfachallenge",)

    def ready(self) -> None:
        from atrium.platform.accounts import auth, authentication

        from . import errors  # noqa: F401  (registers the error codes)
        from .gate import enrolment_gate, sign_in_challenge

        for checks, check in (
            (auth.SIGN_IN_CHECKS, sign_in_challenge),
            (authentication.AUTHENTICATED_REQUEST_CHECKS, enrolment_gate),
        ):
            if check not in checks:
                checks.append(check)
