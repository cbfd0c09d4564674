"""Background work of the tenancy kernel (platform-level, run in the public schema)."""

from celery import shared_task


@shared_task(name="tenants.pool_refill", ignore_result=True)
def pool_refill() -> int:
    """Top the spare-schema pool up to ATRIUM_SPARE_POOL_SIZE after a claim."""
    from .provisioning import pool_fill

    return pool_fill()
