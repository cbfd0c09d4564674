"""``tenants domains add|remove|set-primary|list``: the hosts a tenant answers on."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from atrium.tenants import services

from .output import domains_as_list, emit, emit_json
from .parsers import command, json_flag, subcommands, tenant_command


def add_parsers(sub) -> None:
    p = command(sub, "domains", help="Manage a tenant's domains.")
    dsub = subcommands(p, dest="domains_action", metavar="<add|remove|set-primary|list>")
    d = tenant_command(dsub, "add", "Add a domain to a tenant.", "domain")
    d.add_argument("--primary", action="store_true", help="Make it the primary domain.")
    json_flag(d)
    json_flag(tenant_command(dsub, "remove", "Remove a (non-primary) domain.", "domain"))
    json_flag(
        tenant_command(dsub, "set-primary", "Make a domain the tenant's primary one.", "domain")
    )
    json_flag(tenant_command(dsub, "list", "List a tenant's domains."))


def domains(cmd: BaseCommand, options) -> None:
    action = options["domains_action"]
    slug = options["slug"]

    def result(domain: str, **extra) -> dict[str, Any]:
        listed = domains_as_list(services.domain_list(slug=slug))
        return {"slug": slug, "domain": domain, **extra, "domains": listed}

    if action == "add":
        record = services.domain_add(
            slug=slug, domain=options["domain"], primary=options["primary"]
        )
        flag = " (primary)" if record.is_primary else ""
        emit(
            cmd,
            options,
            f"Added {record.domain}{flag} to {slug}.",
            result(record.domain, is_primary=record.is_primary),
        )
    elif action == "remove":
        services.domain_remove(slug=slug, domain=options["domain"])
        host = options["domain"].strip().lower().rstrip(".")
        emit(cmd, options, f"Removed {options['domain']} from {slug}.", result(host, removed=True))
    elif action == "set-primary":
        record = services.domain_set_primary(slug=slug, domain=options["domain"])
        emit(
            cmd,
            options,
            f"{record.domain} is now the primary domain of {slug}.",
            result(record.domain, is_primary=True),
        )
    else:
        listed = services.domain_list(slug=slug)
        if options["json"]:
            emit_json(cmd, domains_as_list(listed))
            return
        for d in listed:
            cmd.stdout.write(d.domain + (" (primary)" if d.is_primary else ""))


HANDLERS = {"domains": domains}
