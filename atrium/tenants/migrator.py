"""Schema migrations across the template, the spare pool and every tenant.

Which schemas are behind is found with a few SQL statements over all schemas at once
(the migrations each schema has recorded, compared with the ones on disk), so an
up-to-date schema is never loaded. Only the schemas that are behind are migrated, in
parallel worker processes; a failure in one schema is reported and does not stop the rest.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils.module_loading import module_has_submodule

from .context import public_scope, schema_scope

STATUS_BATCH = 500


@dataclass
class MigrationReport:
    checked: int = 0
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tenant_app_labels() -> set[str]:
    from django.apps import apps

    labels = set()
    for app_path in settings.TENANT_APPS:
        for config in apps.get_app_configs():
            if config.name == app_path and module_has_submodule(config.module, "migrations"):
                labels.add(config.label)
    return labels


@functools.cache
def expected_tenant_migrations() -> frozenset[tuple[str, str]]:
    """Every migration a tenant schema must have recorded, read from disk once per process."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    labels = tenant_app_labels()
    return frozenset(key for key in loader.graph.nodes if key[0] in labels)


def schemas_with_migration_table(schemas: Iterable[str]) -> set[str]:
    wanted = list(schemas)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = 'django_migrations' AND c.relkind = 'r' AND n.nspname = ANY(%s)
            """,
            [wanted],
        )
        return {row[0] for row in cursor.fetchall()}


def schemas_behind(schemas: list[str]) -> list[str]:
    """The schemas among ``schemas`` that miss at least one tenant migration."""
    expected = expected_tenant_migrations()
    if not schemas:
        return []
    with public_scope():
        has_table = schemas_with_migration_table(schemas)
        behind = [s for s in schemas if s not in has_table]
        candidates = [s for s in schemas if s in has_table]
        values = ", ".join(["(%s, %s)"] * len(expected))
        flat = [part for key in sorted(expected) for part in key]
        for start in range(0, len(candidates), STATUS_BATCH):
            batch = candidates[start : start + STATUS_BATCH]
            union = " UNION ALL ".join(
                f"SELECT %s AS schema_name, app, name FROM {quote_ident(s)}.django_migrations"
                for s in batch
            )
            sql = (
                f"SELECT schema_name, count(*) FROM ({union}) m "
                f"WHERE (app, name) IN (VALUES {values}) GROUP BY schema_name"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [*batch, *flat])
                counts = dict(cursor.fetchall())
            behind.extend(s for s in batch if counts.get(s, 0) < len(expected))
    return behind


def migrate_schema(schema_name: str) -> None:
    """Apply the tenant apps' migrations to one schema (in this process)."""
    with schema_scope(schema_name):
        # The migration table must exist in this schema before Django looks for it, or it
        # would find public's through the search_path and skip every migration.
        connection.set_schema(schema_name, include_public=False)
        MigrationRecorder(connection).ensure_schema()
        connection.set_schema(schema_name)
        call_command(
            DjangoMigrateCommand(stdout=io.StringIO(), stderr=io.StringIO()),
            interactive=False,
            verbosity=0,
            skip_checks=True,
        )


def migrate_public(stdout=None) -> None:
    with public_scope():
        call_command(
            DjangoMigrateCommand(stdout=stdout or io.StringIO(), stderr=io.StringIO()),
            interactive=False,
            verbosity=0,
            skip_checks=True,
        )


def _migrate_in_worker(schema_name: str) -> tuple[str, str | None]:
    try:
        migrate_schema(schema_name)
        return schema_name, None
    except Exception as exc:  # reported per schema; the run goes on
        return schema_name, f"{type(exc).__name__}: {exc}"
    finally:
        connections.close_all()


def close_before_fork() -> None:
    """Never share a database socket, or a connection pool and its threads, with forked
    workers: a child would wait forever on the parent's pool."""
    for conn in connections.all(initialized_only=True):
        conn.close()
        if getattr(conn, "pool", None) is not None:
            conn.close_pool()


def migrate_schemas(
    schemas: list[str],
    *,
    parallel: int = 1,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[str, str | None], None] | None = None,
) -> MigrationReport:
    """Migrate the schemas that are behind; returns what was migrated and what failed."""
    started = time.perf_counter()
    report = MigrationReport(checked=len(schemas))
    todo = schemas_behind(schemas)
    if on_plan:
        on_plan(len(todo))
    if parallel <= 1 or len(todo) <= 1:
        results = (_migrate_in_worker(schema) for schema in todo)
        for schema, error in results:
            _record(report, schema, error, on_progress)
    else:
        close_before_fork()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=parallel, mp_context=context) as pool:
            futures = [pool.submit(_migrate_in_worker, schema) for schema in todo]
            for future in as_completed(futures):
                schema, error = future.result()
                _record(report, schema, error, on_progress)
    report.seconds = time.perf_counter() - started
    return report


def _record(report: MigrationReport, schema: str, error: str | None, on_progress) -> None:
    if error is None:
        report.migrated.append(schema)
    else:
        report.failed[schema] = error
    if on_progress:
        on_progress(schema, error)
