"""The errors of MFA; each registers its status and code (``atrium/errors.py``)."""

from __future__ import annotations

from typing import Any

from atrium.errors import AtriumError, Conflict, InvalidInput, PermissionDenied


class MfaRequired(AtriumError):
    """The password was right; send a code to ``POST /api/v1/auth/token/mfa/`` with the mfa_token.

    The answer is the one error shape plus a top-level ``mfa_token``: the second step's
    ticket, short-lived, single use, and good on this tenant only."""

    status_code = 401
    code = "mfa_required"
    message_template = (
        "This account uses multi-factor authentication: send the mfa_token of this answer "
        "and a code from the authenticator app (or a recovery code) to /api/v1/auth/token/mfa/."
    )
    data_fields = ("mfa_token",)

    def to_body(self) -> dict[str, Any]:
        return super().to_body() | {"mfa_token": self.mfa_token}


class MfaTokenInvalid(AtriumError):
    """The mfa_token is unknown, malformed, expired, spent, or of another tenant; sign in again."""

    status_code = 401
    code = "mfa_token_invalid"
    message_template = (
        "This mfa_token is not valid here (expired, already used, or unknown). Sign in again "
        "with your password to get a new one."
    )


class InvalidMfaCode(AtriumError):
    """The code is not a current code of the authenticator nor an unused recovery code."""

    status_code = 401
    code = "invalid_mfa_code"
    message_template = (
        "That code is not valid: enter the current 6-digit code of your authenticator app "
        "(each code works once) or an unused recovery code."
    )


class InvalidMfaCodeInput(InvalidInput):
    """The code is not a current code of the authenticator nor an unused recovery code."""

    code = "invalid_mfa_code"
    message_template = InvalidMfaCode.message_template


class MfaAlreadyEnabled(Conflict):
    """MFA is on already; turn it off first (DELETE /api/v1/auth/mfa/totp/) to enrol again."""

    code = "mfa_already_enabled"
    message_template = (
        "Multi-factor authentication is on already. To enrol another authenticator, turn it "
        "off first (DELETE /api/v1/auth/mfa/totp/ with your password and a code)."
    )


class MfaEnrolmentNotStarted(Conflict):
    """No enrolment is pending; start one with POST /api/v1/auth/mfa/totp/."""

    code = "mfa_enrolment_not_started"
    message_template = "No enrolment is pending: start one with POST /api/v1/auth/mfa/totp/."


class MfaNotEnabled(Conflict):
    """MFA is not on for this account; there is nothing to turn off."""

    code = "mfa_not_enabled"
    message_template = "Multi-factor authentication is not on for this account."


class MfaRequiredByTenant(Conflict):
    """The tenant requires MFA of owners and admins; it cannot be turned off."""

    code = "mfa_required_by_tenant"
    message_template = (
        "This organisation requires multi-factor authentication of its owners and admins, "
        "so it cannot be turned off for your account."
    )


class MfaEnrolmentRequired(PermissionDenied):
    """The tenant requires MFA of owners and admins: enrol first (POST /api/v1/auth/mfa/totp/)."""

    code = "mfa_enrolment_required"
    message_template = (
        "This organisation requires multi-factor authentication of its owners and admins. "
        "Turn it on first: POST /api/v1/auth/mfa/totp/, then POST /api/v1/auth/mfa/totp/confirm/."
    )


class InvalidPassword(InvalidInput):
    """The password is wrong."""

    code = "invalid_password"
    message_template = "The password is wrong."
