"""The CLI's output: text for people, or JSON with ``--json``, and the shapes both share."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from atrium.tenants.models import Domain, Tenant
from atrium.tenants.naming import tenant_url


def emit_json(cmd: BaseCommand, data: Any) -> None:
    cmd.stdout.write(json.dumps(data, indent=2, sort_keys=True))


def emit(cmd: BaseCommand, options, text: str, data: Any) -> None:
    """``text`` for people, or ``data`` as JSON with ``--json``."""
    if options.get("json"):
        emit_json(cmd, data)
    else:
        cmd.stdout.write(text)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable


def domains_as_list(domains: list[Domain]) -> list[dict[str, Any]]:
    return [{"domain": d.domain, "is_primary": d.is_primary} for d in domains]


def tenant_as_dict(tenant: Tenant, domains: list[Domain] | None = None) -> dict[str, Any]:
    data = {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "schema_name": tenant.schema_name,
        "status": tenant.status,
        "status_reason": tenant.status_reason,
        "plan": tenant.plan,
        "created_at": tenant.created_at.isoformat(),
        "updated_at": tenant.updated_at.isoformat(),
    }
    if domains is not None:
        data["domains"] = domains_as_list(domains)
        primary = next((d.domain for d in domains if d.is_primary), None)
        data["url"] = tenant_url(primary) if primary else None
    return data
