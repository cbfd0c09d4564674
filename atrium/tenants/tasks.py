"""Background work of the tenancy kernel (platform-level, run in the public schema)."""

# The one import of atrium.platform from this package: a Celery task needs a base class
# at definition time, and the platform's PlatformTask is the door that enters the scope.
from atrium.platform.tasks import platform_task


@platform_task(name="tenants.pool_refill", idempotent=True, ignore_result=True)
def pool_refill() -> int:
    """Top the spare-schema pool up to ATRIUM_SPARE_POOL_SIZE after a claim (and on beat).

    Safe to run twice at once: filling takes a PostgreSQL advisory lock and stops at the
    target, so a redelivered or overlapping run only finds the pool full.
    """
    from .pool import pool_fill

    return pool_fill()
