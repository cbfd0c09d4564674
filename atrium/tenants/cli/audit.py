"""``tenants audit [<slug>] [--since …] [--json]``: the platform's audit log, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from atrium.tenants.models import PlatformAuditEvent

from .output import emit_json
from .parsers import command, json_flag

DEFAULT_LIMIT = 100
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def add_parsers(sub) -> None:
    p = command(sub, "audit", help="Show operators' actions (the platform audit log).")
    p.add_argument("slug", nargs="?", help="Only the entries of this tenant.")
    p.add_argument(
        "--since",
        help="Entries at or after this time: ISO 8601 (2026-12-01, 2026-12-01T10:00Z) or an "
        "age (30m, 12h, 7d).",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"At most this many entries, newest first (default {DEFAULT_LIMIT}).",
    )
    json_flag(p)


def parse_since(value: str) -> datetime:
    text = value.strip()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return timezone.now() - timedelta(**{_UNITS[text[-1]]: int(text[:-1])})
    parsed = parse_datetime(text) or (
        parse_datetime(text + "T00:00:00") if len(text) == 10 else None
    )
    if parsed is None:
        raise CommandError(
            f"--since {value!r}: give an ISO 8601 time (2026-12-01T10:00Z) or an age (7d)."
        )
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def entry_as_dict(entry: PlatformAuditEvent) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "action": entry.action,
        "tenant": entry.tenant_slug or None,
        "actor": entry.actor,
        "os_user": entry.os_user or None,
        "host": entry.host or None,
        "details": entry.details,
    }


def audit(cmd: BaseCommand, options) -> None:
    if options["limit"] < 1:
        raise CommandError("--limit must be at least 1.")
    entries = PlatformAuditEvent.objects.order_by("-at", "-id")
    if options["slug"]:
        entries = entries.filter(tenant_slug=options["slug"])
    if options["since"]:
        entries = entries.filter(at__gte=parse_since(options["since"]))
    rows = [entry_as_dict(entry) for entry in entries[: options["limit"]]]
    if options["json"]:
        emit_json(cmd, rows)
        return
    if not rows:
        cmd.stdout.write("No entries.")
        return
    for row in rows:
        who = row["actor"]
        if row["os_user"]:
            who = f"{row['os_user']}@{row['host']}"
        cmd.stdout.write(
            f"{row['at'][:19].replace('T', ' ')}  {row['action']:<20}  "
            f"{row['tenant'] or '-':<24}  {who}"
        )


HANDLERS = {"audit": audit}
