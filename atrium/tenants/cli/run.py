"""``tenants run <slug>|--all -- <command …>``: any management command in tenants' scope."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError

from atrium.tenants import services
from atrium.tenants.audit import platform_audit_record
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant, TenantStatus

from .output import emit_json
from .parsers import command, json_flag

# Commands `tenants run` will not run in a tenant's scope: they work on every schema.
NOT_PER_TENANT = {
    "tenants": "`tenants` already works across tenants: run it directly.",
    "migrate": "`migrate` works on every schema at once: run `manage.py tenants migrate "
    "[--tenant SLUG]`.",
}


def add_parsers(sub) -> None:
    p = command(
        sub,
        "run",
        help="Run a management command in the scope of one tenant or of every active one: "
        "tenants run <slug>|--all -- <command …>",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("slug", nargs="?", help="The tenant to run the command in.")
    which.add_argument("--all", action="store_true", help="Every active tenant, by slug.")
    p.add_argument(
        "--include-inactive",
        action="store_true",
        help="Run in suspended, archived and provisioning tenants too (skipped otherwise).",
    )
    json_flag(p)


def split_argv(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``tenants run <slug> -- <command …>``: what follows ``--`` is the command to run,
    untouched by this parser (its options are the command's own)."""
    if "--" in argv:
        split = argv.index("--")
        if "run" in argv[2:split]:
            return argv[:split], argv[split + 1 :]
    return argv, None


def run_target(argv: list[str] | None) -> tuple[str, list[str]]:
    """The command to run and its arguments, checked once before any tenant."""
    if not argv:
        raise CommandError(
            "Give the command after `--`: tenants run <slug>|--all -- <command> [args…]."
        )
    name, args = argv[0], argv[1:]
    if name in NOT_PER_TENANT:
        raise CommandError(NOT_PER_TENANT[name])
    app = get_commands().get(name)
    if app is None:
        raise CommandError(f"Unknown command {name!r}: see `manage.py help`.")
    command = app if isinstance(app, BaseCommand) else load_command_class(app, name)
    try:  # a usage error is reported once, not once per tenant
        command.create_parser("manage.py", name).parse_args(args)
    except CommandError as exc:
        raise CommandError(f"{name}: {exc}".replace("Error: ", "", 1)) from None
    return name, args


def run(cmd: BaseCommand, options) -> None:
    name, args = run_target(getattr(cmd, "run_argv", None))
    if options["all"]:
        tenants = list(Tenant.objects.order_by("slug"))
    else:
        tenants = [services.tenant_get(options["slug"])]
    include_inactive = options["include_inactive"]
    chosen = [t for t in tenants if include_inactive or t.status == TenantStatus.ACTIVE]
    skipped = [t for t in tenants if t not in chosen]
    if not options["all"] and skipped:
        raise CommandError(
            f"Tenant {skipped[0].slug!r} is {skipped[0].status}: add --include-inactive to "
            "run the command in it anyway."
        )
    as_json = options["json"]
    results = []
    for tenant in chosen:
        if not as_json:
            cmd.stdout.write(f"== {tenant.slug} (schema {tenant.schema_name})")
        outcome = run_in_tenant(cmd, tenant, name, args, capture=as_json)
        results.append(outcome)
        if not as_json:
            if outcome["status"] == "ok":
                cmd.stdout.write(f"== {tenant.slug}: ok")
            else:
                cmd.stderr.write(f"== {tenant.slug}: FAILED: {outcome['error']}")
    results += [
        {"slug": t.slug, "status": "skipped", "error": f"tenant is {t.status}"} for t in skipped
    ]
    failed = [r["slug"] for r in results if r["status"] == "failed"]
    ran = len(results) - len(skipped)
    if as_json:
        emit_json(
            cmd,
            {
                "command": [name, *args],
                "results": results,
                "ok": ran - len(failed),
                "failed": len(failed),
                "skipped": len(skipped),
            },
        )
    else:
        summary = f"Ran `{name}` in {ran} tenant(s): {ran - len(failed)} ok, {len(failed)} failed"
        if skipped:
            summary += (
                f"; skipped {len(skipped)} not active ("
                + ", ".join(f"{t.slug}: {t.status}" for t in skipped)
                + "; --include-inactive runs them too)"
            )
        cmd.stdout.write(summary + ".")
    if failed:
        raise CommandError(
            f"`{name}` failed in {len(failed)} of {ran} tenant(s): {', '.join(failed)}."
        )


def run_in_tenant(cmd: BaseCommand, tenant: Tenant, name: str, args: list[str], *, capture: bool):
    out = io.StringIO() if capture else None
    err = io.StringIO() if capture else None
    status, error = "ok", None
    redirect = (
        (contextlib.redirect_stdout(out), contextlib.redirect_stderr(err))
        if capture
        else (contextlib.nullcontext(), contextlib.nullcontext())
    )
    try:
        with redirect[0], redirect[1], tenant_scope(tenant):
            call_command(
                name,
                *args,
                stdout=out or cmd.stdout._out,
                stderr=err or cmd.stderr._out,
            )
    except SystemExit as exc:  # e.g. `shell -c "…; sys.exit(3)"`
        if exc.code not in (None, 0):
            status, error = "failed", f"exit status {exc.code}"
    except Exception as exc:  # one tenant's failure must not stop the others
        status, error = "failed", f"{exc.__class__.__name__}: {exc}"
    result: dict[str, Any] = {"slug": tenant.slug, "status": status, "error": error}
    # What ran where, and how it ended (the command's own writes are in the tenant's log,
    # as the operator's: the CLI's operator scope is active).
    platform_audit_record(
        "tenant.run",
        tenant=tenant,
        details={"command": [name, *args], "status": status, "error": error},
    )
    if capture:
        result.update(output=out.getvalue(), errors=err.getvalue())
    return result


HANDLERS = {"run": run}
