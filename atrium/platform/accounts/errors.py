"""Error codes of accounts and authentication, declared in the registry of error codes
(``atrium/errors.py``) so that the OpenAPI schema lists them."""

from atrium.errors import error_code

from .authentication import AUTHENTICATION_ERROR_CODES

for _code in AUTHENTICATION_ERROR_CODES:
    error_code(401, _code, "The token (or the Authorization header) was refused.")

error_code(401, "invalid_credentials", "The e-mail and password do not match an active account.")
# One message for an unknown e-mail, a wrong password and a deactivated account, so the
# answer never tells whether an address has an account here.
INVALID_CREDENTIALS = "No active account matches this e-mail and password. Check both and retry."
error_code(409, "email_taken", "A user with this e-mail exists already.")
# atrium/platform/accounts/throttling.py: sign-in refused while it cannot be rate-limited.
error_code(503, "login_unavailable", "Sign-in cannot be rate-limited right now; retry shortly.")

# Passwords, reset and e-mail change (services.py, account_tokens.py).
error_code(400, "invalid_password", "The current password is wrong.")
error_code(400, "password_too_weak", "The new password fails the password rules.")
error_code(
    403,
    "password_change_required",
    "The password is one-time: change it (POST /api/v1/auth/password/change/) first.",
)
error_code(400, "invalid_token", "The token is unknown, malformed, used or no longer valid.")
error_code(400, "token_expired", "The token has expired: ask for a new one.")
