"""The tenant admin's sign-in asks for the MFA code too: one more field on the throttled
login form (``accounts/throttling.py``), checked after the password, so every guess of a
code also needs the password and spends the same login budget."""

from __future__ import annotations

from django import forms
from django.contrib.admin import AdminSite
from django.db import transaction

from atrium.platform.accounts.throttling import ThrottledAdminAuthenticationForm

from . import errors, selectors, services


class MfaAdminAuthenticationForm(ThrottledAdminAuthenticationForm):
    code = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="If your account uses MFA: the 6-digit code of your authenticator app, or a "
        "recovery code.",
    )

    def clean(self):
        cleaned = super().clean()  # throttled, then the password (sets the user)
        user = self.get_user()
        if user is None:
            return cleaned
        if selectors.mfa_enabled(user):
            code = cleaned.get("code") or ""
            if not code:
                raise forms.ValidationError(
                    "This account uses multi-factor authentication: enter the code of your "
                    "authenticator app (or a recovery code).",
                    code="mfa_required",
                )
            with transaction.atomic():
                if services.second_factor_verify(user=user, code=code) is None:
                    raise forms.ValidationError(
                        errors.InvalidMfaCode.message_template, code="invalid_mfa_code"
                    )
        elif selectors.mfa_required_for(user):
            raise forms.ValidationError(
                "This organisation requires multi-factor authentication of its owners and "
                "admins: turn it on first through the API (POST /api/v1/auth/mfa/totp/, then "
                "/api/v1/auth/mfa/totp/confirm/).",
                code="mfa_enrolment_required",
            )
        return cleaned


def mfa_admin_login(site: AdminSite) -> None:
    """Give a tenant admin site the login with the MFA code (after ``limit_admin_login``)."""
    site.login_form = MfaAdminAuthenticationForm
    site.login_template = "mfa/admin_login.html"
