"""The operator CLI: ``python manage.py tenants <subcommand>`` (see ``--help`` of each)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from atrium.tenants import errors, migrator, provisioning, services
from atrium.tenants.context import public_scope
from atrium.tenants.models import Domain, Tenant, TenantStatus


class OneLineErrorParser(CommandParser):
    """Usage errors as one line (what is wrong, and where to look), exit code 2."""

    def error(self, message: str):
        if getattr(self, "called_from_command_line", True) is False:
            raise CommandError(f"Error: {message}")
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
    help = "Provision, inspect and run tenants: create, list, show, suspend, activate, delete, domains, migrate, pool, cors."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineErrorParser
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="action",
            metavar="<subcommand>",
            required=True,
            parser_class=OneLineErrorParser,
        )

        p = sub.add_parser("create", help="Create a tenant with its schema, domain and owner.")
        p.add_argument("slug", help="2-63 of a-z, 0-9, '-', starting with a letter.")
        p.add_argument("--name", required=True, help="Display name of the tenant.")
        p.add_argument("--owner-email", required=True, help="E-mail of the owner user.")
        p.add_argument(
            "--owner-password",
            help="Owner password (default: a one-time password is generated and printed).",
        )
        p.add_argument("--plan", choices=settings.ATRIUM_PLANS, help="Plan (default: free).")
        p.add_argument("--domain", help="A custom domain, made primary (the subdomain is kept).")
        p.add_argument("--json", action="store_true", help="Print the result as JSON.")

        p = sub.add_parser("list", help="List tenants.")
        p.add_argument("--status", choices=TenantStatus.values, help="Only tenants in this status.")
        p.add_argument("--json", action="store_true", help="Print JSON.")

        p = sub.add_parser("show", help="Show one tenant with its domains.")
        p.add_argument("slug")
        p.add_argument("--json", action="store_true", help="Print JSON.")

        p = sub.add_parser("suspend", help="Stop serving a tenant (403 tenant_suspended).")
        p.add_argument("slug")
        p.add_argument("--reason", default="", help="Why (kept on the tenant).")

        p = sub.add_parser("activate", help="Serve a suspended or archived tenant again.")
        p.add_argument("slug")

        p = sub.add_parser(
            "delete", help="Archive a tenant; with --purge --yes drop its schema, rows and keys."
        )
        p.add_argument("slug")
        p.add_argument("--purge", action="store_true", help="Drop everything of the tenant.")
        p.add_argument("--yes", action="store_true", help="Confirm --purge (it cannot be undone).")

        p = sub.add_parser("domains", help="Manage a tenant's domains.")
        dsub = p.add_subparsers(
            dest="domains_action",
            metavar="<add|remove|set-primary|list>",
            required=True,
            parser_class=OneLineErrorParser,
        )
        d = dsub.add_parser("add", help="Add a domain to a tenant.")
        d.add_argument("slug")
        d.add_argument("domain")
        d.add_argument("--primary", action="store_true", help="Make it the primary domain.")
        d = dsub.add_parser("remove", help="Remove a (non-primary) domain.")
        d.add_argument("slug")
        d.add_argument("domain")
        d = dsub.add_parser("set-primary", help="Make a domain the tenant's primary one.")
        d.add_argument("slug")
        d.add_argument("domain")
        d = dsub.add_parser("list", help="List a tenant's domains.")
        d.add_argument("slug")
        d.add_argument("--json", action="store_true", help="Print JSON.")

        p = sub.add_parser(
            "migrate", help="Migrate public, the template, the spares and every tenant."
        )
        p.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
        p.add_argument("--parallel", type=int, default=1, metavar="N", help="Worker processes.")
        p.add_argument("--json", action="store_true", help="Print the report as JSON.")

        p = sub.add_parser("pool", help="The pool of pre-built spare schemas.")
        psub = p.add_subparsers(
            dest="pool_action",
            metavar="<status|fill>",
            required=True,
            parser_class=OneLineErrorParser,
        )
        s = psub.add_parser("status", help="How many spares are ready.")
        s.add_argument("--json", action="store_true", help="Print JSON.")
        s = psub.add_parser("fill", help="Clone spares until the pool holds N.")
        s.add_argument("count", type=int, metavar="N")

        self.add_cors_arguments(sub)

    def handle(self, *args, **options) -> None:
        self.verbosity = options["verbosity"]  # read by the migrate progress callback
        action = options["action"].replace("-", "_")
        try:
            with public_scope():
                getattr(self, f"do_{action}")(options)
        except errors.TenantError as exc:
            raise CommandError(exc.message) from exc

    # -- output helpers

    def emit_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True))

    # -- subcommands

    def do_create(self, options) -> None:
        result = provisioning.tenant_create(
            slug=options["slug"],
            name=options["name"],
            owner_email=options["owner_email"],
            owner_password=options["owner_password"],
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
        tenants = Tenant.objects.all()
        if options["status"]:
            tenants = tenants.filter(status=options["status"])
        primaries = dict(Domain.objects.filter(is_primary=True).values_list("tenant_id", "domain"))
        rows = []
        for tenant in tenants:
            data = tenant_as_dict(tenant)
            data["primary_domain"] = primaries.get(tenant.id)
            rows.append(data)
        if options["json"]:
            self.emit_json(rows)
            return
        if not rows:
            self.stdout.write("No tenants.")
            return
        self.stdout.write(f"{'SLUG':<24} {'STATUS':<13} {'PLAN':<11} {'PRIMARY DOMAIN'}")
        for row in rows:
            self.stdout.write(
                f"{row['slug']:<24} {row['status']:<13} {row['plan']:<11} {row['primary_domain'] or '-'}"
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

    def do_suspend(self, options) -> None:
        tenant = services.tenant_suspend(slug=options["slug"], reason=options["reason"])
        self.stdout.write(f"Suspended {tenant.slug}: its hosts now answer 403 tenant_suspended.")

    def do_activate(self, options) -> None:
        tenant = services.tenant_activate(slug=options["slug"])
        self.stdout.write(f"Activated {tenant.slug}.")

    def do_delete(self, options) -> None:
        if options["purge"]:
            if not options["yes"]:
                raise CommandError(
                    f"--purge drops the schema, rows and Redis keys of tenant {options['slug']!r} "
                    "for good: add --yes to confirm."
                )
            result = services.tenant_purge(slug=options["slug"])
            self.stdout.write(
                f"Purged {result['slug']}: dropped schema {result['schema_name']}, "
                f"deleted {result['redis_keys_deleted']} Redis keys."
            )
            return
        if options["yes"]:
            raise CommandError(
                "--yes only confirms --purge; without --purge the tenant is archived."
            )
        tenant = services.tenant_archive(slug=options["slug"])
        self.stdout.write(
            f"Archived {tenant.slug}: no longer served, data kept. Purge with "
            f"`tenants delete {tenant.slug} --purge --yes`."
        )

    def do_domains(self, options) -> None:
        action = options["domains_action"]
        slug = options["slug"]
        if action == "add":
            record = services.domain_add(
                slug=slug, domain=options["domain"], primary=options["primary"]
            )
            flag = " (primary)" if record.is_primary else ""
            self.stdout.write(f"Added {record.domain}{flag} to {slug}.")
        elif action == "remove":
            services.domain_remove(slug=slug, domain=options["domain"])
            self.stdout.write(f"Removed {options['domain']} from {slug}.")
        elif action == "set-primary":
            record = services.domain_set_primary(slug=slug, domain=options["domain"])
            self.stdout.write(f"{record.domain} is now the primary domain of {slug}.")
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
        quiet = options["json"]
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
        else:
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
        self.stdout.write(
            f"Cloned {created} spare schema(s); the pool holds {options['count']} or more."
        )

    # -- cors: the browser origins allowed to call a tenant's API (self-contained block)

    def add_cors_arguments(self, sub) -> None:
        p = sub.add_parser("cors", help="Browser origins allowed to call a tenant's API.")
        csub = p.add_subparsers(
            dest="cors_action",
            metavar="<add|remove|list>",
            required=True,
            parser_class=OneLineErrorParser,
        )
        origin_help = "scheme://host[:port], e.g. https://app.example.com (no path, no wildcard)."
        c = csub.add_parser("add", help="Allow an origin.")
        c.add_argument("slug")
        c.add_argument("origin", help=origin_help)
        c.add_argument("--json", action="store_true", help="Print the result as JSON.")
        c = csub.add_parser("remove", help="Stop allowing an origin.")
        c.add_argument("slug")
        c.add_argument("origin", help=origin_help)
        c.add_argument("--json", action="store_true", help="Print the result as JSON.")
        c = csub.add_parser("list", help="List the allowed origins.")
        c.add_argument("slug")
        c.add_argument("--json", action="store_true", help="Print JSON.")

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
