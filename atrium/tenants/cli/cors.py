"""``tenants cors add|remove|list``: the browser origins allowed to call a tenant's API."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from atrium.tenants import services

from .output import emit_json
from .parsers import command, json_flag, subcommands, tenant_command

ORIGIN_HELP = "scheme://host[:port], e.g. https://app.example.com (no path, no wildcard)."


def add_parsers(sub) -> None:
    p = command(sub, "cors", help="Browser origins allowed to call a tenant's API.")
    csub = subcommands(p, dest="cors_action", metavar="<add|remove|list>")
    for name, text in (("add", "Allow an origin."), ("remove", "Stop allowing an origin.")):
        json_flag(tenant_command(csub, name, text, "origin", origin=ORIGIN_HELP))
    json_flag(tenant_command(csub, "list", "List the allowed origins."))


def cors(cmd: BaseCommand, options) -> None:
    action, slug = options["cors_action"], options["slug"]
    changed = None
    if action == "add":
        origin, changed = services.cors_origin_add(slug=slug, origin=options["origin"])
        message = (
            f"Allowed {origin} to call the API of {slug}."
            if changed
            else f"{origin} was already allowed for {slug}; nothing changed."
        )
    elif action == "remove":
        origin = services.cors_origin_remove(slug=slug, origin=options["origin"])
        changed, message = True, f"{origin} may no longer call the API of {slug}."
    origins = services.cors_origin_list(slug=slug)
    if options["json"]:
        data = {"slug": slug, "origins": origins}
        if changed is not None:
            data.update(origin=origin, changed=changed)
        emit_json(cmd, data)
    elif action == "list":
        for origin in origins:
            cmd.stdout.write(origin)
        if not origins:
            cmd.stdout.write(
                f"No origins allowed for {slug}: browsers on other origins get no CORS headers."
            )
    else:
        cmd.stdout.write(message)


HANDLERS = {"cors": cors}
