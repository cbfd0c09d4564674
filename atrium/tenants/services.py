"""Tenant life cycle and domains: suspend, activate, archive, purge, domain changes.

Every change saves through the model, so the routing directory is invalidated (after
commit) by one signal handler, never by each service.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, connection, transaction
from django_redis import get_redis_connection

from . import errors
from .context import public_scope
from .keyspace import tenant_key_pattern
from .migrator import quote_ident
from .models import Domain, Tenant, TenantStatus
from .plans import validate_plan
from .provisioning import domain_ensure_free, validate_domain, validate_name

logger = logging.getLogger(__name__)


def tenant_get(slug: str) -> Tenant:
    with public_scope():
        try:
            return Tenant.objects.get(slug=slug)
        except Tenant.DoesNotExist:
            raise errors.TenantNotFound(f"No tenant with the slug {slug!r}.") from None


def _set_status(tenant: Tenant, status: str, reason: str = "") -> Tenant:
    with public_scope(), transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        tenant.status = status
        tenant.status_reason = reason
        tenant.save(update_fields=["status", "status_reason", "updated_at"])
    return tenant


def tenant_suspend(*, slug: str, reason: str = "") -> Tenant:
    tenant = tenant_get(slug)
    if tenant.status == TenantStatus.ARCHIVED:
        raise errors.TenantStateError(f"Tenant {slug!r} is archived; it cannot be suspended.")
    return _set_status(tenant, TenantStatus.SUSPENDED, reason)


def tenant_activate(*, slug: str) -> Tenant:
    tenant = tenant_get(slug)
    if tenant.status == TenantStatus.PROVISIONING:
        raise errors.TenantStateError(f"Tenant {slug!r} is still being provisioned.")
    return _set_status(tenant, TenantStatus.ACTIVE)


def tenant_archive(*, slug: str, reason: str = "") -> Tenant:
    """Stop serving a tenant and keep its data (``tenants delete`` without --purge)."""
    return _set_status(tenant_get(slug), TenantStatus.ARCHIVED, reason or "deleted by operator")


def tenant_redis_purge(schema_name: str) -> int:
    """Delete every Redis key of a tenant (one SCAN over its prefix); returns the count."""
    client = get_redis_connection("default")
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=tenant_key_pattern(schema_name), count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def tenant_purge(*, slug: str) -> dict:
    """Drop a tenant for good: its schema, its rows, its Redis keys.

    The tenant is archived (and so unroutable) first, so no request can write new keys
    between the Redis purge and the schema drop.
    """
    tenant = tenant_get(slug)
    if tenant.status != TenantStatus.ARCHIVED:
        tenant = tenant_archive(slug=slug)
    keys = tenant_redis_purge(tenant.schema_name)
    with public_scope(), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_ident(tenant.schema_name)} CASCADE")
        tenant.delete()
    keys += tenant_redis_purge(tenant.schema_name)
    return {"slug": slug, "schema_name": tenant.schema_name, "redis_keys_deleted": keys}


def domain_list(*, slug: str) -> list[Domain]:
    tenant = tenant_get(slug)
    with public_scope():
        return list(Domain.objects.filter(tenant=tenant).order_by("-is_primary", "domain"))


def domain_add(*, slug: str, domain: str, primary: bool = False) -> Domain:
    tenant = tenant_get(slug)
    host = validate_domain(domain, slug=slug)
    domain_ensure_free(host)
    with public_scope():
        try:
            with transaction.atomic():
                record = Domain(domain=host, tenant=tenant, is_primary=primary)
                record.save()
        except IntegrityError:
            domain_ensure_free(host)  # names the tenant that won the race
            raise errors.DomainTaken(f"The domain {host!r} is already in use.") from None
    return record


def _tenant_domain(tenant: Tenant, domain: str) -> Domain:
    host = (domain or "").strip().lower().rstrip(".")
    try:
        return Domain.objects.select_for_update().get(tenant=tenant, domain=host)
    except Domain.DoesNotExist:
        raise errors.DomainNotFound(f"Tenant {tenant.slug!r} has no domain {host!r}.") from None


def domain_remove(*, slug: str, domain: str) -> None:
    tenant = tenant_get(slug)
    with public_scope(), transaction.atomic():
        record = _tenant_domain(tenant, domain)
        if record.is_primary:
            raise errors.TenantStateError(
                f"{record.domain!r} is the primary domain of {slug!r}: set another one primary "
                "first (`tenants domains set-primary`)."
            )
        record.delete()


def domain_set_primary(*, slug: str, domain: str) -> Domain:
    tenant = tenant_get(slug)
    with public_scope(), transaction.atomic():
        record = _tenant_domain(tenant, domain)
        record.is_primary = True
        record.save()  # DomainMixin.save demotes the previous primary in this transaction
    return record


def tenant_update(*, slug: str, name: str | None = None, plan: str | None = None) -> Tenant:
    """Change a tenant's display name or plan, validated as at creation (routing, which
    caches both, is invalidated after commit by the save signal)."""
    tenant = tenant_get(slug)
    changes = {}
    if name is not None:
        changes["name"] = validate_name(name)
    if plan is not None:
        changes["plan"] = validate_plan(plan)
    with public_scope(), transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = [field for field, value in changes.items() if getattr(tenant, field) != value]
        if changed:
            for field in changed:
                setattr(tenant, field, changes[field])
            tenant.save(update_fields=[*changed, "updated_at"])
    return tenant
