"""``tenants settings <slug> [--name …] [--require-mfa-for-admins on|off] [--cors-origin …]``:
show or change the settings a tenant holds itself (the same as its API's ``tenant/``)."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand

from atrium.tenants import services
from atrium.tenants.audit import platform_audit_record

from .output import emit
from .parsers import json_flag, tenant_command

ON_OFF = {"on": True, "off": False}


def add_parsers(sub) -> None:
    p = tenant_command(
        sub,
        "settings",
        "Show a tenant's own settings, or change them (seen by every process on its next "
        "request).",
    )
    p.add_argument("--name", help="The tenant's display name (1-200 characters).")
    p.add_argument(
        "--require-mfa-for-admins",
        choices=sorted(ON_OFF),
        help="on: owners and admins must turn on MFA (TOTP) before the API serves them.",
    )
    origins = p.add_mutually_exclusive_group()
    origins.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="Browser origin allowed to call the API, as scheme://host[:port]; repeat it for "
        "several. Replaces the allowed list.",
    )
    origins.add_argument(
        "--no-cors-origins",
        dest="cors_origins",
        action="store_const",
        const=[],
        default=argparse.SUPPRESS,
        help="Allow no browser origin.",
    )
    json_flag(p)


def settings_as_dict(tenant) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "require_mfa_for_admins": tenant.require_mfa_for_admins,
        "cors_allowed_origins": list(tenant.cors_origins),
    }


def settings(cmd: BaseCommand, options) -> None:
    slug = options["slug"]
    mfa = options["require_mfa_for_admins"]
    tenant, changes = services.tenant_settings_update(
        slug=slug,
        name=options["name"],
        require_mfa_for_admins=ON_OFF[mfa] if mfa is not None else None,
        cors_origins=options.get("cors_origins"),
    )
    if changes:
        platform_audit_record(
            "tenant.settings_changed", tenant=tenant, details={"changes": changes}
        )
    data = settings_as_dict(tenant)
    lines = [
        f"name: {data['name']}",
        f"require_mfa_for_admins: {'on' if data['require_mfa_for_admins'] else 'off'}",
        f"cors_allowed_origins: {' '.join(data['cors_allowed_origins']) or '-'}",
    ]
    keys = ("name", "require_mfa_for_admins", "cors_origins")
    if any(options.get(key) is not None for key in keys):
        data["changed"] = sorted(changes)
        lines.insert(
            0,
            (
                f"Changed {', '.join(sorted(changes))} of {slug}."
                if changes
                else f"Nothing changed for {slug}."
            ),
        )
    emit(cmd, options, "\n".join(lines), data)


HANDLERS = {"settings": settings}
