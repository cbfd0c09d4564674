"""``tenants suspend|activate|delete``: a tenant's status, and purging it for good."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from atrium.tenants import services
from atrium.tenants.models import Tenant, TenantStatus

from .output import emit, tenant_as_dict
from .parsers import json_flag, tenant_command


def add_parsers(sub) -> None:
    p = tenant_command(sub, "suspend", "Stop serving a tenant (403 tenant_suspended).")
    p.add_argument("--reason", default="", help="Why (kept on the tenant).")
    json_flag(p)

    p = tenant_command(sub, "activate", "Serve a suspended or archived tenant again.")
    json_flag(p)

    p = tenant_command(
        sub,
        "delete",
        "Archive a tenant; with --purge --yes remove everything of it (schema, rows, keys, "
        "files, queued messages).",
    )
    p.add_argument("--purge", action="store_true", help="Drop everything of the tenant.")
    p.add_argument("--yes", action="store_true", help="Confirm --purge (it cannot be undone).")
    json_flag(p)


def changed(cmd: BaseCommand, options, tenant: Tenant, text: str) -> None:
    emit(cmd, options, text, {**tenant_as_dict(tenant), "changed": True})


def unchanged(cmd: BaseCommand, options, tenant: Tenant, text: str) -> None:
    emit(cmd, options, text, {**tenant_as_dict(tenant), "changed": False})


def suspend(cmd: BaseCommand, options) -> None:
    tenant = services.tenant_get(options["slug"])
    if tenant.status == TenantStatus.SUSPENDED:
        since = tenant.updated_at.isoformat(timespec="seconds")
        why = f" ({tenant.status_reason})" if tenant.status_reason else ""
        return unchanged(
            cmd,
            options,
            tenant,
            f"{tenant.slug} is already suspended{why} since {since}; nothing changed.",
        )
    tenant = services.tenant_suspend(slug=options["slug"], reason=options["reason"])
    changed(
        cmd, options, tenant, f"Suspended {tenant.slug}: its hosts now answer 403 tenant_suspended."
    )


def activate(cmd: BaseCommand, options) -> None:
    tenant = services.tenant_get(options["slug"])
    if tenant.status == TenantStatus.ACTIVE:
        return unchanged(cmd, options, tenant, f"{tenant.slug} is already active; nothing changed.")
    tenant = services.tenant_activate(slug=options["slug"])
    changed(cmd, options, tenant, f"Activated {tenant.slug}.")


def delete(cmd: BaseCommand, options) -> None:
    if options["purge"]:
        return purge(cmd, options)
    if options["yes"]:
        raise CommandError("--yes only confirms --purge; without --purge the tenant is archived.")
    tenant = services.tenant_get(options["slug"])
    if tenant.status == TenantStatus.ARCHIVED:
        return unchanged(
            cmd,
            options,
            tenant,
            f"{tenant.slug} is already archived; nothing changed. Purge with "
            f"`tenants delete {tenant.slug} --purge --yes`.",
        )
    tenant = services.tenant_archive(slug=options["slug"])
    changed(
        cmd,
        options,
        tenant,
        f"Archived {tenant.slug}: no longer served, data kept. Purge with "
        f"`tenants delete {tenant.slug} --purge --yes`.",
    )


def purge(cmd: BaseCommand, options) -> None:
    if not options["yes"]:
        raise CommandError(
            f"--purge removes the schema, rows, Redis keys, channel groups and files of tenant "
            f"{options['slug']!r} "
            "for good: add --yes to confirm."
        )
    result = services.tenant_purge(slug=options["slug"])
    emit(
        cmd,
        options,
        f"Purged {result['slug']}: dropped schema {result['schema_name']} "
        f"({result['tables_dropped']} tables, {result['rows_deleted']} rows), "
        f"deleted {result['redis_keys_deleted']} Redis keys, "
        f"{result['channel_groups_deleted']} channel groups, {result['files_deleted']} files "
        f"and {result['queued_messages_deleted']} queued messages.",
        {**result, "purged": True},
    )


HANDLERS = {"suspend": suspend, "activate": activate, "delete": delete}
