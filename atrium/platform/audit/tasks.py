"""The audit log's nightly retention purge, run once per active tenant by beat."""

from atrium.platform.tasks import tenant_task

from . import services


@tenant_task(name="audit.purge_expired", idempotent=True)
def purge_expired() -> int:
    """Delete the entries older than ATRIUM_AUDIT_RETENTION_DAYS."""
    return services.audit_purge_expired()
