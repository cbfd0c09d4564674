"""Quotas: what a tenant's plan caps (``plans.QUOTA_KEYS``), how much of it is used, and the
check that the services creating what a quota counts make in their transaction.

The layer that owns a counted thing says how to count it (``usage_counter``): accounts
counts seats (active users), the catalog its live products, both in their app's
``ready()``; this kernel counts storage bytes (the tenant schema's size). So the kernel
enforces quotas without knowing the models above it.

``quota_take(resource)`` is called by a service inside its transaction before it creates
(or re-activates) one thing: it takes a transaction-level PostgreSQL advisory lock on the
tenant's quota of that resource, counts, and refuses with 403 ``quota_exceeded`` when the
plan's limit would be passed. Two creates racing at the limit are serialised by the lock;
the second counts after the first committed (READ COMMITTED: each statement sees what
committed before it), so they cannot both pass. ``quota_reserved`` claims many at once (an
import counts once, not once per row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection
from django.http import JsonResponse

from atrium.errors import AtriumError

from .context import active_scope, current_tenant
from .plans import QUOTA_KEYS, plan_quotas

_counters: dict[str, Callable[[], int]] = {}


class QuotaExceeded(AtriumError):
    """The tenant's plan does not allow more of this: its quota is used up."""

    status_code = 403
    code = "quota_exceeded"
    message_template = (
        "The {resource} quota of the {plan!r} plan is {limit}, and {usage} are in use: free "
        "some up, or ask the platform operator for a larger plan."
    )
    data_fields = ("resource", "limit", "usage", "plan")

    def to_body(self) -> dict:
        # The one error shape, plus the figures a client needs to say why: which quota,
        # its limit and the usage it was checked against.
        body = super().to_body()
        body["errors"][0].update(resource=self.resource, limit=self.limit, usage=self.usage)
        return body

    def to_response(self) -> JsonResponse:
        return JsonResponse(self.to_body(), status=self.status_code)


def usage_counter(resource: str) -> Callable[[Callable[[], int]], Callable[[], int]]:
    """Register how to count ``resource`` in the active tenant's schema (a decorator)."""
    if resource not in QUOTA_KEYS:
        raise ValueError(f"{resource!r} is not a quota; quotas are {', '.join(QUOTA_KEYS)}.")

    def register(counter: Callable[[], int]) -> Callable[[], int]:
        _counters[resource] = counter
        return counter

    return register


def usage_count(resource: str) -> int | None:
    """How much of ``resource`` the active tenant uses now; None when no installed app
    counts it."""
    counter = _counters.get(resource)
    return None if counter is None else int(counter())


@usage_counter("storage_bytes")
def schema_bytes() -> int:
    """The active tenant's schema: tables with their indexes and TOAST."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'm', 'p')
            """,
            [active_scope().schema_name],
        )
        return int(cursor.fetchone()[0])


# Claims made ahead by ``quota_reserved`` in this context: resource -> how many are left.
_reserved: ContextVar[dict[str, int] | None] = ContextVar("atrium_quota_reserved", default=None)


def quota_take(resource: str, *, count: int = 1) -> None:
    """Claim ``count`` more of ``resource`` for the active tenant, inside the caller's
    transaction; ``QuotaExceeded`` (403) when its plan's quota would be passed."""
    reserved = _reserved.get()
    if reserved and reserved.get(resource, 0) >= count:
        reserved[resource] -= count  # claimed ahead, under the lock this transaction holds
        return
    tenant = current_tenant()
    limit = plan_quotas(tenant.plan)[resource]
    if limit is None:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("quota_take() must run inside the transaction that creates.")
    with connection.cursor() as cursor:
        # Held until the transaction ends: a racing create of the tenant waits here, then
        # counts what this one committed.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"atrium:quota:{tenant.schema_name}:{resource}"],
        )
    _refuse_past(tenant, resource, limit, count)


def quota_check(resource: str, *, count: int = 1) -> None:
    """Raise the ``QuotaExceeded`` that creating ``count`` more would meet now, without a
    lock (a form's early answer); the create itself still calls ``quota_take``."""
    tenant = current_tenant()
    limit = plan_quotas(tenant.plan)[resource]
    if limit is not None:
        _refuse_past(tenant, resource, limit, count)


def _refuse_past(tenant, resource: str, limit: int, count: int) -> None:
    used = usage_count(resource) or 0
    if used + count > limit:
        raise QuotaExceeded(resource=resource, limit=limit, usage=used, plan=tenant.plan)


@contextmanager
def quota_reserved(resource: str, count: int) -> Iterator[None]:
    """Claim ``count`` of ``resource`` at once (one lock, one count), for a block that then
    creates them one by one through services that each call ``quota_take`` (an import):
    those calls take from the claim instead of counting again. Inside a transaction."""
    if count <= 0:  # nothing new (an import that only updates): nothing to claim
        yield
        return
    quota_take(resource, count=count)
    token = _reserved.set({**(_reserved.get() or {}), resource: count})
    try:
        yield
    finally:
        _reserved.reset(token)
