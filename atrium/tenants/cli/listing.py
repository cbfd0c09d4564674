"""``tenants list`` and ``tenants show``: what tenants there are, and one of them."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from atrium.tenants import selectors, services
from atrium.tenants.models import TenantStatus

from .output import emit_json, human_size, tenant_as_dict
from .parsers import command, json_flag, tenant_command


def add_parsers(sub) -> None:
    p = command(sub, "list", help="List tenants with their status, plan, users and size.")
    p.add_argument("--status", choices=TenantStatus.values, help="Only tenants in this status.")
    json_flag(p)

    p = tenant_command(sub, "show", "Show one tenant with its domains.")
    json_flag(p)


def tenant_list(cmd: BaseCommand, options) -> None:
    rows = []
    for row in selectors.tenant_list(status=options["status"]):
        data = tenant_as_dict(row.tenant)
        data.update(
            primary_domain=row.primary_domain,
            users=row.usage.users,
            size_bytes=row.usage.size_bytes,
        )
        rows.append(data)
    if options["json"]:
        emit_json(cmd, rows)
        return
    if not rows:
        cmd.stdout.write("No tenants.")
        return
    name_width = min(30, max(4, *(len(row["name"]) for row in rows)))
    cmd.stdout.write(
        f"{'SLUG':<24}  {'NAME':<{name_width}}  {'STATUS':<12}  {'PLAN':<10}  {'USERS':>5}  "
        f"{'SIZE':>9}  PRIMARY DOMAIN"
    )
    for row in rows:
        name = row["name"]
        if len(name) > name_width:
            name = name[: name_width - 1] + "…"
        users = "-" if row["users"] is None else row["users"]
        cmd.stdout.write(
            f"{row['slug']:<24}  {name:<{name_width}}  {row['status']:<12}  "
            f"{row['plan']:<10}  {users:>5}  {human_size(row['size_bytes']):>9}  "
            f"{row['primary_domain'] or '-'}"
        )


def tenant_show(cmd: BaseCommand, options) -> None:
    tenant = services.tenant_get(options["slug"])
    data = tenant_as_dict(tenant, services.domain_list(slug=tenant.slug))
    if options["json"]:
        emit_json(cmd, data)
        return
    for key in (
        "slug",
        "name",
        "status",
        "status_reason",
        "plan",
        "schema_name",
        "id",
        "url",
        "created_at",
    ):
        cmd.stdout.write(f"{key + ':':<15}{data[key] or '-'}")
    for domain in data["domains"]:
        flag = " (primary)" if domain["is_primary"] else ""
        cmd.stdout.write(f"{'domain:':<15}{domain['domain']}{flag}")


HANDLERS = {"list": tenant_list, "show": tenant_show}
