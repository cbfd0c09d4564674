"""The catalog's settings and their defaults: ``atrium_settings.IMPORT_MAX_BYTES`` reads
``settings.ATRIUM_IMPORT_MAX_BYTES`` when the settings set it, else the default here (see
``atrium/conf.py``). Each default can also come from the environment variable of its name."""

from atrium.conf import env_int

DEFAULTS = {
    # The largest CSV an import accepts (the request as a whole is bounded by
    # ATRIUM_REQUEST_MAX_BYTES, which leaves room for this plus the multipart framing).
    "IMPORT_MAX_BYTES": env_int("ATRIUM_IMPORT_MAX_BYTES", 5 * 1024 * 1024),
    # Seconds the tenant's import lock lives: one import at a time per tenant.
    "IMPORT_LOCK_SECONDS": env_int("ATRIUM_IMPORT_LOCK_SECONDS", 600),
    # Days a soft-deleted row is kept before catalog.purge_deleted removes it for good.
    "SOFT_DELETE_RETENTION_DAYS": env_int("ATRIUM_SOFT_DELETE_RETENTION_DAYS", 30),
}
