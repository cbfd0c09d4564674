"""``tenants usage <slug> [--json]`` (one tenant's usage today, as its API shows it) and
``tenants usage --top N`` (the heaviest tenants of a day, from the flushed usage table)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from atrium.tenants import services, usage

from .output import emit_json, human_size
from .parsers import command, json_flag


def add_parsers(sub) -> None:
    p = command(
        sub,
        "usage",
        help="A tenant's usage today and its plan's quotas, or the top tenants (--top).",
    )
    p.add_argument("slug", nargs="?", help="The tenant (omit with --top).")
    p.add_argument(
        "--top",
        type=int,
        metavar="N",
        help="The N tenants that used the most on the day (from the metering table, "
        "written by beat every 5 minutes).",
    )
    p.add_argument(
        "--by",
        choices=usage.TOP_ORDER,
        default="api_requests",
        help="With --top: what to rank by (default: api_requests).",
    )
    p.add_argument(
        "--day",
        type=dt.date.fromisoformat,
        help="With --top: the day (YYYY-MM-DD, UTC; default: today).",
    )
    json_flag(p)


def _quota(value: int | None, size: bool = False) -> str:
    if value is None:
        return "no quota"
    return human_size(value) if size else str(value)


def tenant_usage(cmd: BaseCommand, options) -> None:
    if options["top"] is not None:
        if options["slug"]:
            raise CommandError("Give a tenant's slug or --top, not both.")
        top(cmd, options)
        return
    if not options["slug"]:
        raise CommandError("Name a tenant (`tenants usage <slug>`) or ask for --top N.")
    tenant = services.tenant_get(options["slug"])
    report = usage.usage_report(tenant)
    if options["json"]:
        emit_json(cmd, {"slug": tenant.slug, **report})
        return
    quotas = report["quotas"]
    lines = [
        f"{'tenant:':<15}{tenant.slug}",
        f"{'plan:':<15}{report['plan']}",
        f"{'period:':<15}{report['period']} (UTC)",
        f"{'api requests:':<15}{report['api_requests']}",
        f"{'active users:':<15}{report['active_users']}",
        f"{'seats:':<15}{report['seats']} of {_quota(quotas['seats'])}",
        f"{'products:':<15}{report['products']} of {_quota(quotas['products'])}",
        f"{'storage:':<15}{human_size(report['storage_bytes'])} of "
        f"{_quota(quotas['storage_bytes'], size=True)}",
    ]
    for line in lines:
        cmd.stdout.write(line)


def top(cmd: BaseCommand, options) -> None:
    if options["top"] < 1:
        raise CommandError("--top wants a number of tenants, 1 or more.")
    day = options["day"] or usage.today()
    rows = usage.usage_top(day=day, by=options["by"], limit=options["top"])
    data = [
        {
            "slug": row.tenant.slug,
            "plan": row.tenant.plan,
            "period": row.day.isoformat(),
            "api_requests": row.api_requests,
            "active_users": row.active_users,
            "seats": row.seats,
            "products": row.products,
            "storage_bytes": row.storage_bytes,
            "flushed_at": row.updated_at.isoformat(),
        }
        for row in rows
    ]
    if options["json"]:
        emit_json(cmd, data)
        return
    if not data:
        cmd.stdout.write(f"No usage flushed for {day} yet (beat writes it every 5 minutes).")
        return
    cmd.stdout.write(
        f"{'SLUG':<24}  {'PLAN':<10}  {'REQUESTS':>10}  {'USERS':>6}  {'SEATS':>6}  "
        f"{'PRODUCTS':>8}  {'STORAGE':>9}"
    )
    for row in data:
        cmd.stdout.write(
            f"{row['slug']:<24}  {row['plan']:<10}  {row['api_requests']:>10}  "
            f"{row['active_users']:>6}  {row['seats']:>6}  {row['products']:>8}  "
            f"{human_size(row['storage_bytes']):>9}"
        )


HANDLERS = {"usage": tenant_usage}
