"""``tenants migrate``: public, the template, the spares and every tenant, replayed by
``atrium.tenants.rollout`` (``--django``: Django's migrate per schema, ``migrator``); this
module only chooses the schemas and reports."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from atrium.conf import atrium_settings
from atrium.tenants import migrator, replay, rollout, services
from atrium.tenants.models import Tenant
from atrium.tenants.pool import spare_schemas
from atrium.tenants.template import template_ensure, template_exists

from .output import emit_json
from .parsers import command, json_flag


def add_parsers(sub) -> None:
    p = command(sub, "migrate", help="Migrate public, the template, the spares and every tenant.")
    p.add_argument("--tenant", metavar="SLUG", help="Only this tenant.")
    p.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="Database connections (worker processes with --django).",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--plan",
        action="store_true",
        help="Print each group of schemas, its migrations (replay or fallback) and the SQL; "
        "change nothing.",
    )
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="Run every schema's transaction and roll it back: change nothing, report what "
        "would fail.",
    )
    mode.add_argument(
        "--django",
        action="store_true",
        help="Django's whole migrate in each schema (the slow path) instead of the replay.",
    )
    json_flag(p)


def schemas_to_migrate(only) -> list[str]:
    if only is not None:
        return [only.schema_name]
    return [
        *([atrium_settings.TEMPLATE_SCHEMA] if template_exists() else []),
        *spare_schemas(),
        *Tenant.objects.order_by("slug").values_list("schema_name", flat=True),
    ]


def print_plan(cmd: BaseCommand, schemas: list[str]) -> None:
    groups = rollout.plans(schemas)
    pending = sum(len(group.schemas) for group in groups)
    for number, group in enumerate(groups, 1):
        names = ", ".join(group.schemas[:3]) + (", …" if len(group.schemas) > 3 else "")
        cmd.stdout.write(
            f"Group {number}: {len(group.schemas)} schema(s) ({names}), "
            f"{len(group.migrations)} migration(s):"
        )
        for step in group.steps:
            for migration in step.migrations:
                how = f"fallback ({step.fallback})" if step.fallback else "replay"
                cmd.stdout.write(f"  {replay.label(migration)}: {how}")
            if step.fallback is None:
                cmd.stdout.write("\n".join(f"    {sql.rstrip(';')};" for sql in step.sql))
        if group.post_migrate_sql:
            cmd.stdout.write("  post_migrate: content types and permissions (2 statements)")
    cmd.stdout.write(
        f"Plan: {len(schemas)} schemas checked, {pending} behind in {len(groups)} group(s); "
        "nothing changed."
    )


def migrate(cmd: BaseCommand, options) -> None:
    if options["parallel"] < 1:
        raise CommandError("--parallel must be at least 1.")
    quiet = options["json"] or cmd.verbosity == 0
    only = services.tenant_get(options["tenant"]) if options["tenant"] else None
    if options["plan"]:
        print_plan(cmd, schemas_to_migrate(only))
        return
    dry_run = options["dry_run"]
    if not dry_run:
        if not quiet:
            cmd.stdout.write("Migrating public schema…")
        migrator.migrate_public()
        if only is None and template_ensure() and not quiet:
            cmd.stdout.write(f"Created template schema {atrium_settings.TEMPLATE_SCHEMA}.")
    schemas = schemas_to_migrate(only)
    report = run_migrations(cmd, schemas, options, quiet)
    if options["json"]:
        emit_json(
            cmd,
            {
                "checked": report.checked,
                "migrated": sorted(report.migrated),
                "failed": report.failed,
                "seconds": round(report.seconds, 3),
                "fallbacks": report.fallbacks,
                "lock_retries": report.lock_retries,
                "dry_run": dry_run,
            },
        )
    elif not quiet or not report.ok:
        for schema, error in sorted(report.failed.items()):
            cmd.stderr.write(f"failed: {schema}: {error}")
        for migration, reason in report.fallbacks.items():
            cmd.stdout.write(f"Django's migrate in each schema for {migration}: {reason}")
        if report.migrated and not options["django"]:
            cmd.stdout.write(
                f"Replayed SQL in {report.replayed} schema transaction(s), "
                f"{len(report.fallbacks)} migration(s) through Django's migrate, "
                f"{report.lock_retries} lock timeout(s) retried."
            )
        # The summary line, last.
        cmd.stdout.write(
            f"{'Dry run (nothing changed): checked' if dry_run else 'Checked'} "
            f"{report.checked} schemas in {report.seconds:.1f} s: "
            f"{len(report.migrated)} {'would migrate' if dry_run else 'migrated'}, "
            f"{report.checked - len(report.migrated) - len(report.failed)} "
            f"already up to date, {len(report.failed)} failed."
        )
    if not report.ok:
        raise CommandError(
            f"{len(report.failed)} schema(s) failed to migrate; fix and re-run "
            "`tenants migrate` to finish them."
        )


def run_migrations(cmd: BaseCommand, schemas: list[str], options, quiet: bool):
    """The replay (or ``--django``) with a progress bar on a terminal (rate and ETA), or a
    line a schema at -v 2."""
    bar = None

    def plan(total: int) -> None:
        nonlocal bar
        if not quiet and total and sys.stdout.isatty():
            from tqdm import tqdm

            bar = tqdm(total=total, unit="schema", desc="migrating", file=sys.stdout)
            # tqdm's bar shows done/total, elapsed<remaining (the ETA) and schemas/s.

    def progress(schema: str, error: str | None) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(schema)
        elif not quiet and cmd.verbosity >= 2:
            cmd.stdout.write(f"{'FAILED' if error else 'migrated'} {schema}")

    parallel = options["parallel"]
    try:
        if options["django"]:
            return migrator.migrate_schemas(
                schemas, parallel=parallel, on_plan=plan, on_progress=progress
            )
        return rollout.migrate_schemas(
            schemas,
            parallel=parallel,
            dry_run=options["dry_run"],
            on_plan=plan,
            on_progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()


HANDLERS = {"migrate": migrate}
