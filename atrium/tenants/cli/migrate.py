"""``tenants migrate``: public, the template, the spares and every tenant, through
``atrium.tenants.migrator`` (this module only chooses the schemas and reports)."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from atrium.tenants import migrator, provisioning, services
from atrium.tenants.models import Tenant

from .output import emit_json
from .parsers import command, json_flag


def add_parsers(sub) -> None:
    p = command(sub, "migrate", help="Migrate public, the template, the spares and every tenant.")
    p.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
    p.add_argument("--parallel", type=int, default=1, metavar="N", help="Worker processes.")
    json_flag(p)


def migrate(cmd: BaseCommand, options) -> None:
    if options["parallel"] < 1:
        raise CommandError("--parallel must be at least 1.")
    quiet = options["json"] or cmd.verbosity == 0
    only = services.tenant_get(options["tenant"]) if options["tenant"] else None
    if not quiet:
        cmd.stdout.write("Migrating public schema…")
    migrator.migrate_public()
    if only is not None:
        schemas = [only.schema_name]
    else:
        if provisioning.template_ensure() and not quiet:
            cmd.stdout.write(f"Created template schema {settings.ATRIUM_TEMPLATE_SCHEMA}.")
        schemas = [
            settings.ATRIUM_TEMPLATE_SCHEMA,
            *provisioning.spare_schemas(),
            *Tenant.objects.order_by("slug").values_list("schema_name", flat=True),
        ]
    report = run_migrations(cmd, schemas, options["parallel"], quiet)
    if options["json"]:
        emit_json(
            cmd,
            {
                "checked": report.checked,
                "migrated": sorted(report.migrated),
                "failed": report.failed,
                "seconds": round(report.seconds, 3),
            },
        )
    elif not quiet or not report.ok:
        cmd.stdout.write(
            f"Checked {report.checked} schemas in {report.seconds:.1f} s: "
            f"{len(report.migrated)} migrated, {report.checked - len(report.migrated) - len(report.failed)} "
            f"already up to date, {len(report.failed)} failed."
        )
        for schema, error in sorted(report.failed.items()):
            cmd.stderr.write(f"failed: {schema}: {error}")
    if not report.ok:
        raise CommandError(
            f"{len(report.failed)} schema(s) failed to migrate; fix and re-run "
            "`tenants migrate` to finish them."
        )


def run_migrations(cmd: BaseCommand, schemas: list[str], parallel: int, quiet: bool):
    """``migrator.migrate_schemas`` with a progress bar on a terminal (a line a schema at -v 2)."""
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
        elif not quiet and cmd.verbosity >= 2:
            cmd.stdout.write(f"{'FAILED' if error else 'migrated'} {schema}")

    try:
        return migrator.migrate_schemas(
            schemas, parallel=parallel, on_plan=plan, on_progress=progress
        )
    finally:
        if bar is not None:
            bar.close()


HANDLERS = {"migrate": migrate}
