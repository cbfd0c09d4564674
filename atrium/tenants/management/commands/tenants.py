"""The operator CLI: ``python manage.py tenants <subcommand>`` (see ``--help`` of each)."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import json
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError, CommandParser

from atrium.errors import AtriumError
from atrium.tenants import migrator, provisioning, selectors, services
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import Domain, Tenant, TenantStatus

# Commands `tenants run` will not run in a tenant's scope: they work on every schema.
NOT_PER_TENANT = {
    "tenants": "`tenants` already works across tenants: run it directly.",
    "migrate": "`migrate` works on every schema at once: run `manage.py tenants migrate "
    "[--tenant SLUG]`.",
}


class OneLineErrorParser(CommandParser):
    """Usage errors as one line (what is wrong, and where to look), exit code 2."""

    def error(self, message: str):
        if getattr(self, "called_from_command_line", True) is False:
            raise CommandError(f"Error: {message}")
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def share_django_options(parser: CommandParser) -> None:
    """Django's own options (-v, --settings, --traceback, …) after a subcommand too.

    argparse hands everything after the subcommand to the subcommand's parser, so without
    this ``tenants migrate -v 2`` was refused. ``SUPPRESS`` leaves the value given before
    the subcommand (or the default) alone unless the option is repeated after it.
    """
    keep = argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbosity",
        type=int,
        choices=[0, 1, 2, 3],
        default=keep,
        help="Verbosity level; 0=minimal output, 1=normal output, 2=verbose output, 3=very verbose output",
    )
    parser.add_argument("--settings", default=keep, help="The Python path to a settings module.")
    parser.add_argument("--pythonpath", default=keep, help="A directory to add to the Python path.")
    for flag, text in (
        ("--traceback", "Display a full stack trace on CommandError exceptions."),
        ("--no-color", "Don't colorize the command output."),
        ("--force-color", "Force colorization of the command output."),
        ("--skip-checks", "Skip system checks."),
    ):
        parser.add_argument(flag, action="store_true", default=keep, help=text)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable


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
        data["domains"] = [{"domain": d.domain, "is_primary": d.is_primary} for d in domains]
        primary = next((d.domain for d in domains if d.is_primary), None)
        data["url"] = provisioning.tenant_url(primary) if primary else None
    return data


class Command(BaseCommand):
    help = (
        "Provision, inspect and run tenants: create, list, show, suspend, activate, delete, "
        "domains, migrate, pool, run, cors."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineErrorParser
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        # `tenants run <slug> -- <command …>`: what follows `--` is the command to run,
        # untouched by this parser (its options are the command's own).
        self.run_argv = None
        if "--" in argv:
            split = argv.index("--")
            if "run" in argv[2:split]:
                argv, self.run_argv = argv[:split], argv[split + 1 :]
        super().run_from_argv(argv)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="action",
            metavar="<subcommand>",
            required=True,
            parser_class=OneLineErrorParser,
        )

        def command(parent, name: str, **kwargs) -> CommandParser:
            p = parent.add_parser(name, **kwargs)
            share_django_options(p)
            return p

        def json_flag(p: CommandParser) -> None:
            p.add_argument("--json", action="store_true", help="Print the result as JSON.")

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
        p.add_argument("--plan", choices=list(settings.ATRIUM_PLANS), help="Plan (default: free).")
        p.add_argument("--domain", help="A custom domain, made primary (the subdomain is kept).")
        json_flag(p)

        p = command(sub, "list", help="List tenants with their status, plan, users and size.")
        p.add_argument("--status", choices=TenantStatus.values, help="Only tenants in this status.")
        json_flag(p)

        p = command(sub, "show", help="Show one tenant with its domains.")
        p.add_argument("slug")
        json_flag(p)

        p = command(sub, "suspend", help="Stop serving a tenant (403 tenant_suspended).")
        p.add_argument("slug")
        p.add_argument("--reason", default="", help="Why (kept on the tenant).")
        json_flag(p)

        p = command(sub, "activate", help="Serve a suspended or archived tenant again.")
        p.add_argument("slug")
        json_flag(p)

        p = command(
            sub,
            "delete",
            help="Archive a tenant; with --purge --yes remove everything of it (schema, rows, keys, files).",
        )
        p.add_argument("slug")
        p.add_argument("--purge", action="store_true", help="Drop everything of the tenant.")
        p.add_argument("--yes", action="store_true", help="Confirm --purge (it cannot be undone).")
        json_flag(p)

        p = command(sub, "domains", help="Manage a tenant's domains.")
        dsub = p.add_subparsers(
            dest="domains_action",
            metavar="<add|remove|set-primary|list>",
            required=True,
            parser_class=OneLineErrorParser,
        )
        d = command(dsub, "add", help="Add a domain to a tenant.")
        d.add_argument("slug")
        d.add_argument("domain")
        d.add_argument("--primary", action="store_true", help="Make it the primary domain.")
        json_flag(d)
        d = command(dsub, "remove", help="Remove a (non-primary) domain.")
        d.add_argument("slug")
        d.add_argument("domain")
        json_flag(d)
        d = command(dsub, "set-primary", help="Make a domain the tenant's primary one.")
        d.add_argument("slug")
        d.add_argument("domain")
        json_flag(d)
        d = command(dsub, "list", help="List a tenant's domains.")
        d.add_argument("slug")
        json_flag(d)

        p = command(
            sub, "migrate", help="Migrate public, the template, the spares and every tenant."
        )
        p.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
        p.add_argument("--parallel", type=int, default=1, metavar="N", help="Worker processes.")
        json_flag(p)

        p = command(sub, "pool", help="The pool of pre-built spare schemas.")
        psub = p.add_subparsers(
            dest="pool_action",
            metavar="<status|fill>",
            required=True,
            parser_class=OneLineErrorParser,
        )
        s = command(psub, "status", help="How many spares are ready.")
        json_flag(s)
        s = command(psub, "fill", help="Clone spares until the pool holds N.")
        s.add_argument("count", type=int, metavar="N")
        json_flag(s)

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

        p = command(sub, "cors", help="Browser origins allowed to call a tenant's API.")
        csub = p.add_subparsers(
            dest="cors_action",
            metavar="<add|remove|list>",
            required=True,
            parser_class=OneLineErrorParser,
        )
        origin_help = "scheme://host[:port], e.g. https://app.example.com (no path, no wildcard)."
        c = command(csub, "add", help="Allow an origin.")
        c.add_argument("slug")
        c.add_argument("origin", help=origin_help)
        json_flag(c)
        c = command(csub, "remove", help="Stop allowing an origin.")
        c.add_argument("slug")
        c.add_argument("origin", help=origin_help)
        json_flag(c)
        c = command(csub, "list", help="List the allowed origins.")
        c.add_argument("slug")
        json_flag(c)

    def handle(self, *args, **options) -> None:
        self.verbosity = options["verbosity"]  # read by the migrate progress callback
        action = options["action"].replace("-", "_")
        try:
            with public_scope():
                getattr(self, f"do_{action}")(options)
        except AtriumError as exc:
            raise CommandError(exc.message) from exc

    # -- output helpers

    def emit_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True))

    def emit(self, options, text: str, data: Any) -> None:
        """``text`` for people, or ``data`` as JSON with ``--json``."""
        if options.get("json"):
            self.emit_json(data)
        else:
            self.stdout.write(text)

    # -- subcommands

    def owner_password(self, options) -> str | None:
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

    def do_create(self, options) -> None:
        result = provisioning.tenant_create(
            slug=options["slug"],
            name=options["name"],
            owner_email=options["owner_email"],
            owner_password=self.owner_password(options),
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
            self.emit_json(data)
            return
        self.stdout.write(
            f"Created tenant {tenant.slug} (schema {tenant.schema_name}, from a "
            f"{result.schema_source}) in {result.seconds * 1000:.0f} ms"
        )
        self.stdout.write(f"URL:      {result.url}")
        self.stdout.write(f"Admin:    {result.url}admin/")
        self.stdout.write(f"Owner:    {result.owner_email}")
        if result.owner_password:
            self.stdout.write(
                f"Password: {result.owner_password}  (one-time: shown only now; change it after "
                "the first login)"
            )

    def do_list(self, options) -> None:
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
            self.emit_json(rows)
            return
        if not rows:
            self.stdout.write("No tenants.")
            return
        name_width = min(30, max(4, *(len(row["name"]) for row in rows)))
        self.stdout.write(
            f"{'SLUG':<24}  {'NAME':<{name_width}}  {'STATUS':<12}  {'PLAN':<10}  {'USERS':>5}  "
            f"{'SIZE':>9}  PRIMARY DOMAIN"
        )
        for row in rows:
            name = row["name"]
            if len(name) > name_width:
                name = name[: name_width - 1] + "…"
            users = "-" if row["users"] is None else row["users"]
            self.stdout.write(
                f"{row['slug']:<24}  {name:<{name_width}}  {row['status']:<12}  "
                f"{row['plan']:<10}  {users:>5}  {human_size(row['size_bytes']):>9}  "
                f"{row['primary_domain'] or '-'}"
            )

    def do_show(self, options) -> None:
        tenant = services.tenant_get(options["slug"])
        data = tenant_as_dict(tenant, services.domain_list(slug=tenant.slug))
        if options["json"]:
            self.emit_json(data)
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
            self.stdout.write(f"{key + ':':<15}{data[key] or '-'}")
        for domain in data["domains"]:
            flag = " (primary)" if domain["is_primary"] else ""
            self.stdout.write(f"{'domain:':<15}{domain['domain']}{flag}")

    def _unchanged(self, options, tenant: Tenant, text: str) -> None:
        self.emit(options, text, {**tenant_as_dict(tenant), "changed": False})

    def do_suspend(self, options) -> None:
        tenant = services.tenant_get(options["slug"])
        if tenant.status == TenantStatus.SUSPENDED:
            since = tenant.updated_at.isoformat(timespec="seconds")
            why = f" ({tenant.status_reason})" if tenant.status_reason else ""
            return self._unchanged(
                options,
                tenant,
                f"{tenant.slug} is already suspended{why} since {since}; nothing changed.",
            )
        tenant = services.tenant_suspend(slug=options["slug"], reason=options["reason"])
        self.emit(
            options,
            f"Suspended {tenant.slug}: its hosts now answer 403 tenant_suspended.",
            {**tenant_as_dict(tenant), "changed": True},
        )

    def do_activate(self, options) -> None:
        tenant = services.tenant_get(options["slug"])
        if tenant.status == TenantStatus.ACTIVE:
            return self._unchanged(
                options, tenant, f"{tenant.slug} is already active; nothing changed."
            )
        tenant = services.tenant_activate(slug=options["slug"])
        self.emit(options, f"Activated {tenant.slug}.", {**tenant_as_dict(tenant), "changed": True})

    def do_delete(self, options) -> None:
        if options["purge"]:
            if not options["yes"]:
                raise CommandError(
                    f"--purge removes the schema, rows, Redis keys, channel groups and files of tenant "
                    f"{options['slug']!r} "
                    "for good: add --yes to confirm."
                )
            result = services.tenant_purge(slug=options["slug"])
            self.emit(
                options,
                f"Purged {result['slug']}: dropped schema {result['schema_name']}, "
                f"deleted {result['redis_keys_deleted']} Redis keys, "
                f"{result['channel_groups_deleted']} channel groups and {result['files_deleted']} files.",
                {**result, "purged": True},
            )
            return
        if options["yes"]:
            raise CommandError(
                "--yes only confirms --purge; without --purge the tenant is archived."
            )
        tenant = services.tenant_get(options["slug"])
        if tenant.status == TenantStatus.ARCHIVED:
            return self._unchanged(
                options,
                tenant,
                f"{tenant.slug} is already archived; nothing changed. Purge with "
                f"`tenants delete {tenant.slug} --purge --yes`.",
            )
        tenant = services.tenant_archive(slug=options["slug"])
        self.emit(
            options,
            f"Archived {tenant.slug}: no longer served, data kept. Purge with "
            f"`tenants delete {tenant.slug} --purge --yes`.",
            {**tenant_as_dict(tenant), "changed": True},
        )

    def do_domains(self, options) -> None:
        action = options["domains_action"]
        slug = options["slug"]

        def result(domain: str, **extra) -> dict[str, Any]:
            domains = services.domain_list(slug=slug)
            listed = [{"domain": d.domain, "is_primary": d.is_primary} for d in domains]
            return {"slug": slug, "domain": domain, **extra, "domains": listed}

        if action == "add":
            record = services.domain_add(
                slug=slug, domain=options["domain"], primary=options["primary"]
            )
            flag = " (primary)" if record.is_primary else ""
            self.emit(
                options,
                f"Added {record.domain}{flag} to {slug}.",
                result(record.domain, is_primary=record.is_primary),
            )
        elif action == "remove":
            services.domain_remove(slug=slug, domain=options["domain"])
            host = options["domain"].strip().lower().rstrip(".")
            self.emit(
                options, f"Removed {options['domain']} from {slug}.", result(host, removed=True)
            )
        elif action == "set-primary":
            record = services.domain_set_primary(slug=slug, domain=options["domain"])
            self.emit(
                options,
                f"{record.domain} is now the primary domain of {slug}.",
                result(record.domain, is_primary=True),
            )
        else:
            domains = services.domain_list(slug=slug)
            if options["json"]:
                self.emit_json([{"domain": d.domain, "is_primary": d.is_primary} for d in domains])
                return
            for d in domains:
                self.stdout.write(d.domain + (" (primary)" if d.is_primary else ""))

    def do_migrate(self, options) -> None:
        if options["parallel"] < 1:
            raise CommandError("--parallel must be at least 1.")
        quiet = options["json"] or self.verbosity == 0
        only = services.tenant_get(options["tenant"]) if options["tenant"] else None
        if not quiet:
            self.stdout.write("Migrating public schema…")
        migrator.migrate_public()
        if only is not None:
            schemas = [only.schema_name]
        else:
            if provisioning.template_ensure() and not quiet:
                self.stdout.write(f"Created template schema {settings.ATRIUM_TEMPLATE_SCHEMA}.")
            schemas = [
                settings.ATRIUM_TEMPLATE_SCHEMA,
                *provisioning.spare_schemas(),
                *Tenant.objects.order_by("slug").values_list("schema_name", flat=True),
            ]
        report = self._run_migrations(schemas, options["parallel"], quiet)
        if options["json"]:
            self.emit_json(
                {
                    "checked": report.checked,
                    "migrated": sorted(report.migrated),
                    "failed": report.failed,
                    "seconds": round(report.seconds, 3),
                }
            )
        elif not quiet or not report.ok:
            self.stdout.write(
                f"Checked {report.checked} schemas in {report.seconds:.1f} s: "
                f"{len(report.migrated)} migrated, {report.checked - len(report.migrated) - len(report.failed)} "
                f"already up to date, {len(report.failed)} failed."
            )
            for schema, error in sorted(report.failed.items()):
                self.stderr.write(f"failed: {schema}: {error}")
        if not report.ok:
            raise CommandError(
                f"{len(report.failed)} schema(s) failed to migrate; fix and re-run "
                "`tenants migrate` to finish them."
            )

    def _run_migrations(self, schemas: list[str], parallel: int, quiet: bool):
        bar = None

        def plan(total: int) -> None:
            nonlocal bar
            if not quiet and total and sys.stdout.isatty():
                from tqdm import tqdm

                bar = tqdm(total=total, unit="schema", desc="migrating", file=sys.stdout)

        def progress(schema: str, error: str | None) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(schema)
            elif not quiet and self.verbosity >= 2:
                self.stdout.write(f"{'FAILED' if error else 'migrated'} {schema}")

        try:
            return migrator.migrate_schemas(
                schemas, parallel=parallel, on_plan=plan, on_progress=progress
            )
        finally:
            if bar is not None:
                bar.close()

    def do_pool(self, options) -> None:
        if options["pool_action"] == "status":
            status = provisioning.pool_status()
            if options["json"]:
                self.emit_json(status)
                return
            self.stdout.write(
                f"{status['spares']} spare schema(s) ready (target {status['target']}), "
                f"{status['stale']} behind on migrations; template "
                f"{'present' if status['template'] else 'MISSING: run `tenants migrate`'}."
            )
            return
        if options["count"] < 0:
            raise CommandError("N must be 0 or more.")
        created = provisioning.pool_fill(options["count"])
        self.emit(
            options,
            f"Cloned {created} spare schema(s); the pool holds {options['count']} or more.",
            {"cloned": created, "spares": len(provisioning.spare_schemas())},
        )

    # -- run

    def _run_target(self, argv: list[str] | None) -> tuple[str, list[str]]:
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

    def do_run(self, options) -> None:
        name, args = self._run_target(getattr(self, "run_argv", None))
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
                self.stdout.write(f"== {tenant.slug} (schema {tenant.schema_name})")
            outcome = self._run_in_tenant(tenant, name, args, capture=as_json)
            results.append(outcome)
            if not as_json:
                if outcome["status"] == "ok":
                    self.stdout.write(f"== {tenant.slug}: ok")
                else:
                    self.stderr.write(f"== {tenant.slug}: FAILED: {outcome['error']}")
        results += [
            {"slug": t.slug, "status": "skipped", "error": f"tenant is {t.status}"} for t in skipped
        ]
        failed = [r["slug"] for r in results if r["status"] == "failed"]
        ran = len(results) - len(skipped)
        if as_json:
            self.emit_json(
                {
                    "command": [name, *args],
                    "results": results,
                    "ok": ran - len(failed),
                    "failed": len(failed),
                    "skipped": len(skipped),
                }
            )
        else:
            summary = (
                f"Ran `{name}` in {ran} tenant(s): {ran - len(failed)} ok, {len(failed)} failed"
            )
            if skipped:
                summary += (
                    f"; skipped {len(skipped)} not active ("
                    + ", ".join(f"{t.slug}: {t.status}" for t in skipped)
                    + "; --include-inactive runs them too)"
                )
            self.stdout.write(summary + ".")
        if failed:
            raise CommandError(
                f"`{name}` failed in {len(failed)} of {ran} tenant(s): {', '.join(failed)}."
            )

    def _run_in_tenant(self, tenant: Tenant, name: str, args: list[str], *, capture: bool):
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
                    stdout=out or self.stdout._out,
                    stderr=err or self.stderr._out,
                )
        except SystemExit as exc:  # e.g. `shell -c "…; sys.exit(3)"`
            if exc.code not in (None, 0):
                status, error = "failed", f"exit status {exc.code}"
        except Exception as exc:  # one tenant's failure must not stop the others
            status, error = "failed", f"{exc.__class__.__name__}: {exc}"
        result: dict[str, Any] = {"slug": tenant.slug, "status": status, "error": error}
        if capture:
            result.update(output=out.getvalue(), errors=err.getvalue())
        return result

    # -- cors: the browser origins allowed to call a tenant's API

    def do_cors(self, options) -> None:
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
            self.emit_json(data)
        elif action == "list":
            for origin in origins:
                self.stdout.write(origin)
            if not origins:
                self.stdout.write(
                    f"No origins allowed for {slug}: browsers on other origins get no CORS headers."
                )
        else:
            self.stdout.write(message)
