"""MFA settings and their defaults (``atrium_settings.MFA_TOKEN_TTL``; see ``atrium/conf.py``)."""

from atrium.conf import env_int

DEFAULTS = {
    # Seconds the mfa_token of a sign-in (401 mfa_required) may be spent in.
    "MFA_TOKEN_TTL": env_int("ATRIUM_MFA_TOKEN_TTL", 300),
    # Wrong codes one mfa_token takes before it is dead (on top of the login rate limits).
    "MFA_TOKEN_MAX_ATTEMPTS": env_int("ATRIUM_MFA_TOKEN_MAX_ATTEMPTS", 5),
}
