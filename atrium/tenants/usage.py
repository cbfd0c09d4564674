"""Metering: what each tenant uses, per day (UTC), and the usage report of a tenant.

Per request (from the API's metering hook: ``queue_request`` on the throttles' pipeline, or
``record_request``, a pipelined round trip of its own), in the tenant's key space,
``t:<schema>:usage:<YYYYMMDD>:requests`` (INCR) and ``…:users`` (PFADD of the user's id:
distinct users, a HyperLogLog of at most 12 kB), each kept ``ATRIUM_USAGE_REDIS_DAYS`` after its day. Redis away: the request is not counted
(metering never fails a request).

Beat runs ``usage_flush`` (``platform.usage_flush``, every 5 minutes): for each active
tenant, the day's counters (read in one pipeline per batch of tenants) and its sizes now
(seats, products, storage bytes, counted in its schema) are written to ``TenantUsage`` in
the public schema, one row per tenant and day. Counters are absolute, so a flush is safe to
repeat, and a flush missed (beat or Redis down) catches up while the counters live.

``usage_report`` answers what the API's ``GET /api/v1/usage/`` and ``tenants usage``
show: today's counters live from Redis (the last flushed row when Redis is away), the sizes
counted now, and the plan's quotas.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import redis
from django.db.models import F
from django.utils import timezone
from django_redis import get_redis_connection

from atrium.conf import atrium_settings

from .context import public_scope, tenant_scope
from .keyspace import prefix_for_schema
from .models import Tenant, TenantStatus, TenantUsage
from .plans import plan_quotas
from .quotas import usage_count

logger = logging.getLogger(__name__)

PURPOSE = "usage"
FLUSH_BATCH = 500  # tenants per Redis pipeline when reading the counters
TOP_ORDER = ("api_requests", "active_users", "seats", "products", "storage_bytes")


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def usage_keys(schema_name: str, day: dt.date) -> tuple[str, str]:
    """The day's request counter and distinct-user estimator of a tenant."""
    base = f"{prefix_for_schema(schema_name)}:{PURPOSE}:{day:%Y%m%d}"
    return f"{base}:requests", f"{base}:users"


def redis_client() -> redis.Redis:
    return get_redis_connection("default")


def record_request(schema_name: str, user_id: object | None) -> None:
    """Count one API request of the tenant (and its user): one pipelined round trip.
    Raises redis.RedisError when Redis is away (the caller lets the request through)."""
    pipe = redis_client().pipeline(transaction=False)
    queue_request(pipe, schema_name, user_id)
    pipe.execute()


def queue_request(pipe: redis.client.Pipeline, schema_name: str, user_id: object | None) -> None:
    """``record_request``'s commands, queued on ``pipe`` (another round trip's)."""
    requests_key, users_key = usage_keys(schema_name, today())
    ttl = (atrium_settings.USAGE_REDIS_DAYS + 1) * 86400
    pipe.incr(requests_key)
    pipe.expire(requests_key, ttl)
    if user_id is not None:
        pipe.pfadd(users_key, str(user_id))
        pipe.expire(users_key, ttl)


def _read_counters(schemas: list[str], day: dt.date) -> dict[str, tuple[int, int]]:
    """(requests, distinct users) of each schema on ``day``, one pipeline per batch."""
    found: dict[str, tuple[int, int]] = {}
    client = redis_client()
    for start in range(0, len(schemas), FLUSH_BATCH):
        batch = schemas[start : start + FLUSH_BATCH]
        pipe = client.pipeline(transaction=False)
        for schema in batch:
            requests_key, users_key = usage_keys(schema, day)
            pipe.get(requests_key)
            pipe.pfcount(users_key)
        values = pipe.execute()
        for index, schema in enumerate(batch):
            requests, users = values[2 * index], values[2 * index + 1]
            found[schema] = (int(requests or 0), int(users or 0))
    return found


def _sizes() -> dict[str, int]:
    """Seats, products and storage bytes of the active tenant, counted now."""
    return {
        resource: usage_count(resource) or 0 for resource in ("seats", "products", "storage_bytes")
    }


def usage_flush(*, day: dt.date | None = None, slugs: Iterable[str] | None = None) -> int:
    """Write the day's usage of every active tenant (or of ``slugs``) to TenantUsage;
    returns how many rows were written. Redis away: raises (beat tries again)."""
    day = day or today()
    with public_scope():
        tenants = Tenant.objects.filter(status=TenantStatus.ACTIVE).order_by("schema_name")
        if slugs is not None:
            tenants = tenants.filter(slug__in=list(slugs))
        tenants = list(tenants)
    counters = _read_counters([tenant.schema_name for tenant in tenants], day)
    written = 0
    for tenant in tenants:
        with tenant_scope(tenant):
            sizes = _sizes()
        requests, users = counters.get(tenant.schema_name, (0, 0))
        with public_scope():
            TenantUsage.objects.update_or_create(
                tenant=tenant,
                day=day,
                defaults={"api_requests": requests, "active_users": users, **sizes},
            )
        written += 1
    return written


def usage_report(tenant: Tenant, *, day: dt.date | None = None) -> dict[str, Any]:
    """The usage of ``tenant`` on ``day`` (today), with its plan's
    quotas: ``{plan, period, api_requests, active_users, seats, products, storage_bytes,
    quotas: {seats, products, storage_bytes}}``."""
    day = day or today()
    with tenant_scope(tenant):
        sizes = _sizes()
    try:
        requests, users = _read_counters([tenant.schema_name], day)[tenant.schema_name]
    except redis.RedisError:
        logger.warning("usage: Redis unavailable, showing the last flushed counters")
        with public_scope():
            row = TenantUsage.objects.filter(tenant_id=tenant.pk, day=day).first()
        requests, users = (row.api_requests, row.active_users) if row else (0, 0)
    return {
        "plan": tenant.plan,
        "period": day.isoformat(),
        "api_requests": requests,
        "active_users": users,
        **sizes,
        "quotas": plan_quotas(tenant.plan),
    }


def usage_top(*, day: dt.date | None = None, by: str = "api_requests", limit: int = 20):
    """The flushed usage rows of ``day`` (today), the largest ``by`` first, with their
    tenants (for operators: ``tenants usage --top``)."""
    if by not in TOP_ORDER:
        raise ValueError(f"Order by one of {', '.join(TOP_ORDER)}, not {by!r}.")
    with public_scope():
        return list(
            TenantUsage.objects.filter(day=day or today())
            .select_related("tenant")
            .order_by(F(by).desc(), "tenant__slug")[:limit]
        )
