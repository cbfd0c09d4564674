"""Tenant life cycle and domains: suspend, activate, archive, purge, domain changes.

Every change saves through the model, so the routing directory is invalidated (after
commit) by one signal handler, never by each service. A change of status also reaches
what is already open: suspending, archiving or purging a tenant closes its sockets (4403),
and a purge removes every byte of the tenant (schema, rows, Redis keys, channel groups,
files) and retires its schema name, so a later tenant with the slug inherits nothing.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from . import errors
from .audit import platform_audit_record
from .celery import tenant_messages_purge
from .context import public_scope
from .cors import validate_origin, validate_origins
from .directory import directory_forget_schema
from .keyspace import storage_root_for_schema, tenant_key_pattern
from .migrator import quote_ident
from .models import Domain, RetiredSchemaName, Tenant, TenantStatus, TenantUsage
from .naming import domain_ensure_free, validate_domain, validate_name
from .plans import validate_plan
from .sockets import tenant_groups_purge, tenant_sockets_close

logger = logging.getLogger(__name__)

# The close reason an open socket of the tenant gets (code 4403), by the status it enters;
# the same codes as the HTTP answers of a tenant in that status.
SOCKET_CLOSE_REASONS = {
    TenantStatus.SUSPENDED: "tenant_suspended",
    TenantStatus.ARCHIVED: "tenant_archived",
}
PURGED_SOCKET_CLOSE_REASON = "tenant_purged"
# The platform audit action of each status an operator sets.
STATUS_ACTIONS = {
    TenantStatus.SUSPENDED: "tenant.suspended",
    TenantStatus.ACTIVE: "tenant.activated",
    TenantStatus.ARCHIVED: "tenant.archived",
}


def tenant_get(slug: str) -> Tenant:
    with public_scope():
        try:
            return Tenant.objects.get(slug=slug)
        except Tenant.DoesNotExist:
            raise errors.TenantNotFound(f"No tenant with the slug {slug!r}.") from None


def _set_status(
    tenant: Tenant, status: str, reason: str = "", *, socket_reason: str | None = None
) -> Tenant:
    with public_scope(), transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        previous = tenant.status
        tenant.status = status
        tenant.status_reason = reason
        tenant.save(update_fields=["status", "status_reason", "updated_at"])
        platform_audit_record(
            STATUS_ACTIONS[status],
            tenant=tenant,
            details={"status": [previous, status], "reason": reason},
        )
        socket_reason = socket_reason or SOCKET_CLOSE_REASONS.get(status)
        if socket_reason:
            # After commit, so a socket that reconnects at once is refused by routing.
            tenant_sockets_close(tenant.schema_name, reason=socket_reason)
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


def tenant_files_purge(schema_name: str) -> int:
    """Delete a tenant's storage folder and everything in it; returns the number of files."""
    return _delete_tree(storage_root_for_schema(schema_name))


def _delete_tree(folder: str) -> int:
    # Listed, not tested with exists(): in a bucket (ATRIUM_STORAGE=s3) a folder is only a
    # key prefix, which exists() never finds; a folder that is not there lists nothing.
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return 0
    deleted = 0
    for name in files:
        default_storage.delete(f"{folder}/{name}")
        deleted += 1
    for name in folders:
        deleted += _delete_tree(f"{folder}/{name}")
    default_storage.delete(folder)  # the empty folder (a no-op on storages without folders)
    return deleted


def tenant_purge(*, slug: str) -> dict:
    """Remove every byte of a tenant: schema, rows, Redis keys, channel groups, files,
    queued Celery messages and its entries in the routing directory.

    The tenant is archived (and so unroutable) first and its open sockets are closed
    (4403 ``tenant_purged``). Keys, files, channel groups and messages go before the schema
    drop, so a Redis or storage failure stops the purge while it can still be run again,
    and once more after it, for what was already under way. The schema name is retired in
    the drop's transaction: no later tenant gets it, so nothing keyed by it (a socket the
    close did not reach, a message a worker already holds) ever reaches a new tenant. There
    is no per-tenant schedule to remove: periodic work is fanned out to active tenants only.
    What was removed, with the counts and the time, goes to the platform audit.
    """
    if connection.in_atomic_block:
        raise RuntimeError(
            "tenant_purge() deletes Redis keys and files, which a rollback cannot restore, and "
            "closes sockets after its own commits: call it outside transaction.atomic()."
        )
    tenant = tenant_get(slug)
    schema_name, tenant_id = tenant.schema_name, str(tenant.pk)
    if tenant.status != TenantStatus.ARCHIVED:
        tenant = _set_status(
            tenant,
            TenantStatus.ARCHIVED,
            "purged by operator",
            socket_reason=PURGED_SOCKET_CLOSE_REASON,
        )
    else:  # closed when it was archived; a socket that slipped through is closed now
        tenant_sockets_close(schema_name, reason=PURGED_SOCKET_CLOSE_REASON)
    removed = _purge_outside_postgres(schema_name, dict.fromkeys(_OUTSIDE_POSTGRES, 0))
    with public_scope(), transaction.atomic():
        tables, rows = _schema_size(schema_name)
        domains = [d.domain for d in Domain.objects.filter(tenant=tenant).order_by("domain")]
        usage_rows = TenantUsage.objects.filter(tenant=tenant).count()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema_name)} CASCADE")
        tenant.delete()  # its domains and usage rows with it (CASCADE)
        RetiredSchemaName.objects.get_or_create(name=schema_name)
    removed = _purge_outside_postgres(schema_name, removed)
    logger.info(
        "tenants: purged %s (schema %s): %d tables (%d rows), %d Redis keys, %d files, "
        "%d channel groups, %d queued messages",
        slug,
        schema_name,
        tables,
        rows,
        removed["keys"],
        removed["files"],
        removed["groups"],
        removed["messages"],
    )
    result = {
        "slug": slug,
        "tenant_id": tenant_id,
        "schema_name": schema_name,
        "purged_at": timezone.now().isoformat(),
        "tables_dropped": tables,
        "rows_deleted": rows,
        "domains_deleted": domains,
        "usage_rows_deleted": usage_rows,
        "redis_keys_deleted": removed["keys"],
        "directory_entries_deleted": removed["directory"],
        "files_deleted": removed["files"],
        "channel_groups_deleted": removed["groups"],
        "queued_messages_deleted": removed["messages"],
    }
    # The tenant row is gone: the record names it by slug (and its id in the details).
    platform_audit_record("tenant.purged", tenant=slug, details=result)
    return result


def _schema_size(schema_name: str) -> tuple[int, int]:
    """The schema's tables and their rows (exact counts: a purge is rare, and recorded)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = %s) AND relkind IN ('r', 'p')",
            [schema_name],
        )
        tables = [row[0] for row in cursor.fetchall()]
        if not tables:
            return 0, 0
        qualified = quote_ident(schema_name)
        cursor.execute(
            "SELECT "
            + " + ".join(f"(SELECT count(*) FROM {qualified}.{quote_ident(t)})" for t in tables)
        )
        return len(tables), int(cursor.fetchone()[0])


# What a purge removes outside PostgreSQL, by its count's name.
_OUTSIDE_POSTGRES = ("keys", "directory", "files", "groups", "messages")


def _purge_outside_postgres(schema_name: str, removed: dict[str, int]) -> dict[str, int]:
    return {
        "keys": removed["keys"] + tenant_redis_purge(schema_name),
        "directory": removed["directory"] + directory_forget_schema(schema_name),
        "files": removed["files"] + tenant_files_purge(schema_name),
        "groups": removed["groups"] + tenant_groups_purge(schema_name),
        "messages": removed["messages"] + tenant_messages_purge(schema_name),
    }


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
                platform_audit_record(
                    "domain.added", tenant=tenant, details={"domain": host, "primary": primary}
                )
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
        platform_audit_record("domain.removed", tenant=tenant, details={"domain": record.domain})


def domain_set_primary(*, slug: str, domain: str) -> Domain:
    tenant = tenant_get(slug)
    with public_scope(), transaction.atomic():
        record = _tenant_domain(tenant, domain)
        record.is_primary = True
        record.save()  # DomainMixin.save demotes the previous primary in this transaction
        platform_audit_record(
            "domain.primary_set", tenant=tenant, details={"domain": record.domain}
        )
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
            before = {field: getattr(tenant, field) for field in changed}
            for field in changed:
                setattr(tenant, field, changes[field])
            tenant.save(update_fields=[*changed, "updated_at"])
            if "plan" in changed:
                platform_audit_record(
                    "tenant.plan_changed",
                    tenant=tenant,
                    details={"plan": [before["plan"], tenant.plan]},
                )
            if "name" in changed:
                platform_audit_record(
                    "tenant.updated", tenant=tenant, details={"name": [before["name"], tenant.name]}
                )
    return tenant


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
        _cors_record(tenant, cleaned)
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
        _cors_record(tenant, validate_origins([*tenant.cors_origins, value]))
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
        _cors_record(tenant, [o for o in tenant.cors_origins if o != value])
        tenant.cors_origins = [o for o in tenant.cors_origins if o != value]
        tenant.save(update_fields=["cors_origins", "updated_at"])
    return value


def _cors_record(tenant: Tenant, origins: list[str]) -> None:
    if list(origins) != list(tenant.cors_origins):
        platform_audit_record(
            "tenant.cors_changed",
            tenant=tenant,
            details={"cors_origins": [list(tenant.cors_origins), list(origins)]},
        )
