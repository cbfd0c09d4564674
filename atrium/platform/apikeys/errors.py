"""Error codes of API keys, declared in the registry (``atrium/errors.py``)."""

from atrium.errors import error_code

error_code(401, "api_key_invalid", "The API key is unknown, revoked, expired or malformed.")
error_code(401, "user_inactive", "The account behind the credential is deactivated.")
error_code(
    403,
    "insufficient_scope",
    "The API key's scopes do not allow this method or route (read, write, admin).",
)
