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
from .cors import validate_origin, validate_origins
from .keyspace import tenant_key_pattern
from .migrator import quote_ident
from .models import Domain, Tenant, TenantStatus
from .provisioning import validate_domain

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
    with public_scope():
        if Domain.objects.filter(domain__iexact=host).exists():
            raise errors.DomainTaken(f"The domain {host!r} is already in use.")
        try:
            with transaction.atomic():
                record = Domain(domain=host, tenant=tenant, is_primary=primary)
                record.save()
        except IntegrityError:
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


# ------------------------------------------------------------------- CORS origins
def cors_origin_list(*, slug: str) -> list[str]:
    return list(tenant_get(slug).cors_origins)


def cors_origins_set(*, slug: str, origins: list[str]) -> list[str]:
    """Replace the tenant's allowed origins (validated); the routing directory, which
    carries them, is invalidated after commit by the Tenant save signal."""
    tenant = tenant_get(slug)
    cleaned = validate_origins(origins)
    with public_scope(), transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        tenant.cors_origins = cleaned
        tenant.save(update_fields=["cors_origins", "updated_at"])
    return cleaned


def cors_origin_add(*, slug: str, origin: str) -> tuple[str, bool]:
    """Allow one origin; returns it as stored and whether it was new."""
    value = validate_origin(origin)
    with public_scope(), transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant_get(slug).pk)
        if value in tenant.cors_origins:
            return value, False
        tenant.cors_origins = validate_origins([*tenant.cors_origins, value])
        tenant.save(update_fields=["cors_origins", "updated_at"])
    return value, True


def cors_origin_remove(*, slug: str, origin: str) -> str:
    value = validate_origin(origin)
    with public_scope(), transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant_get(slug).pk)
        if value not in tenant.cors_origins:
            raise errors.OriginNotFound(
                f"Tenant {slug!r} does not allow {value!r}; see `tenants cors list {slug}`."
            )
        tenant.cors_origins = [o for o in tenant.cors_origins if o != value]
        tenant.save(update_fields=["cors_origins", "updated_at"])
    return value
