"""Errors of sign-up, on the one error root (``atrium/errors.py``)."""

from atrium.errors import InvalidInput, ServiceUnavailable, error_code


class SignupInvalid(InvalidInput):
    """The sign-up token is unknown (mistyped or replaced by a newer sign-up)."""

    code = "signup_invalid"
    message_template = "This sign-up token is not valid. Check the link, or sign up again."


class SignupExpired(InvalidInput):
    """The sign-up's token has expired."""

    code = "signup_expired"
    message_template = "This sign-up has expired. Sign up again."


class SignupUsed(InvalidInput):
    """The sign-up was confirmed already."""

    code = "signup_used"
    message_template = "This sign-up was confirmed already: sign in on your tenant's host."


class SignupUnavailable(ServiceUnavailable):
    """Sign-up cannot be rate-limited right now, so it is refused; retry shortly."""

    code = "signup_unavailable"
    message_template = "Sign-up is temporarily unavailable. Please try again in a few seconds."


PASSWORD_TOO_WEAK = error_code(
    400, "password_too_weak", "The password fails the password rules (AUTH_PASSWORD_VALIDATORS)."
)
