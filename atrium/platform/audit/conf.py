"""The audit log's settings and their defaults (see ``atrium/conf.py``)."""

from atrium.conf import env_int

DEFAULTS = {
    # Days an audit entry is kept; audit.purge_expired (beat, per tenant) deletes older ones.
    "AUDIT_RETENTION_DAYS": env_int("ATRIUM_AUDIT_RETENTION_DAYS", 365),
}
