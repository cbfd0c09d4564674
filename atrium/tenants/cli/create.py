"""``tenants create``: a tenant with its schema, domain and owner."""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from atrium.conf import atrium_settings
from atrium.tenants import provisioning, services

from .output import emit_json, tenant_as_dict
from .parsers import command, json_flag


def add_parsers(sub) -> None:
    p = command(sub, "create", help="Create a tenant with its schema, domain and owner.")
    p.add_argument("slug", help="2-63 of a-z, 0-9, '-', starting with a letter.")
    p.add_argument("--name", required=True, help="Display name of the tenant.")
    p.add_argument("--owner-email", required=True, help="E-mail of the owner user.")
    password = p.add_mutually_exclusive_group()
    password.add_argument(
        "--owner-password",
        help="Owner password (visible to `ps` and shell history: prefer the two options "
        "below). Default: a one-time password is generated and printed.",
    )
    password.add_argument(
        "--owner-password-stdin",
        action="store_true",
        help="Read the owner password from the first line of standard input.",
    )
    password.add_argument(
        "--owner-password-prompt",
        action="store_true",
        help="Prompt for the owner password (twice, not echoed); needs a terminal.",
    )
    p.add_argument(
        "--must-change",
        action="store_true",
        help="The owner must change the given password at first sign-in (a generated one "
        "always must).",
    )
    p.add_argument("--plan", choices=list(atrium_settings.PLANS), help="Plan (default: free).")
    p.add_argument("--domain", help="A custom domain, made primary (the subdomain is kept).")
    json_flag(p)


def owner_password(options) -> str | None:
    """The owner password from argv, stdin or a prompt; None: generate a one-time one."""
    if options["owner_password_stdin"]:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CommandError("--owner-password-stdin read no password from standard input.")
        return password
    if options["owner_password_prompt"]:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise CommandError(
                "--owner-password-prompt needs a terminal: pipe the password into "
                "--owner-password-stdin instead."
            )
        password = getpass.getpass("Owner password: ")
        if password != getpass.getpass("Owner password (again): "):
            raise CommandError("The two passwords differ; nothing was created.")
        if not password:
            raise CommandError("An empty password was given; nothing was created.")
        return password
    return options["owner_password"]


def create(cmd: BaseCommand, options) -> None:
    result = provisioning.tenant_create(
        slug=options["slug"],
        name=options["name"],
        owner_email=options["owner_email"],
        owner_password=owner_password(options),
        owner_must_change=options["must_change"],
        plan=options["plan"],
        domain=options["domain"],
    )
    tenant = result.tenant
    if options["json"]:
        data = tenant_as_dict(tenant, services.domain_list(slug=tenant.slug))
        data.update(
            owner_email=result.owner_email,
            owner_password=result.owner_password,
            seconds=round(result.seconds, 4),
            schema_source=result.schema_source,
        )
        emit_json(cmd, data)
        return
    cmd.stdout.write(
        f"Created tenant {tenant.slug} (schema {tenant.schema_name}, from a "
        f"{result.schema_source}) in {result.seconds * 1000:.0f} ms"
    )
    cmd.stdout.write(f"URL:      {result.url}")
    cmd.stdout.write(f"Admin:    {result.url}admin/")
    cmd.stdout.write(f"Owner:    {result.owner_email}")
    if result.owner_password:
        cmd.stdout.write(
            f"Password: {result.owner_password}  (one-time: shown only now; it must be "
            "changed at the first sign-in)"
        )


HANDLERS = {"create": create}
