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
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management import call_command
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.core.management.sql import emit_pre_migrate_signal
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils.module_loading import module_has_submodule

from atrium.conf import atrium_settings

from .context import public_scope, schema_scope

# Schemas per status statement (a UNION ALL of their django_migrations): planning grows
# faster than linearly with the union's size; over 10,000 schemas, 500 per statement took
# 5.0 s and 50 took 2.0 s.
STATUS_BATCH = 50


@dataclass
class MigrationReport:
    checked: int = 0
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # The replay path's: migrations that went through Django's migrate, and why.
    fallbacks: dict[str, str] = field(default_factory=dict)
    replayed: int = 0  # schema transactions that replayed SQL
    lock_retries: int = 0

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
def migrations_on_disk() -> frozenset[tuple[str, str]]:
    """Every migration of every app, read from disk once per process."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


@functools.cache
def expected_tenant_migrations() -> frozenset[tuple[str, str]]:
    """Every migration a tenant schema must have recorded."""
    labels = tenant_app_labels()
    return frozenset(key for key in migrations_on_disk() if key[0] in labels)


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


def migrate_schema(
    schema_name: str, target: tuple[str, str] | None = None, *, post_migrate: bool = True
) -> None:
    """Apply the tenant apps' migrations (up to ``target``) to one schema, in this process.

    Without ``post_migrate`` it is the migrate command minus the post_migrate signal: for a
    migration the replay path can't replay, in the middle of a plan whose post_migrate
    work (content types, permissions) is done once, at the end, from the final state, as
    Django's own single run does it."""
    with schema_scope(schema_name):
        # The migration table must exist in this schema before Django looks for it, or it
        # would find public's through the search_path and skip every migration.
        connection.set_schema(schema_name, include_public=False)
        MigrationRecorder(connection).ensure_schema()
        connection.set_schema(schema_name)
        if not post_migrate:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(
                [target] if target else executor.loader.graph.leaf_nodes()
            )
            state = executor._create_project_state(with_applied_migrations=True)
            emit_pre_migrate_signal(0, False, connection.alias, apps=state.apps, plan=plan)
            executor.migrate(None, plan=plan, state=state.clone())
            return
        call_command(
            DjangoMigrateCommand(stdout=io.StringIO(), stderr=io.StringIO()),
            *(target or ()),
            interactive=False,
            verbosity=0,
            skip_checks=True,
        )


def public_is_current() -> bool:
    """Whether public has recorded every migration on disk, in one query. Django's migrate
    records each migration there (the tenant apps' too, whatever the router lets it run),
    and starts by listing every table in sight to find ``django_migrations``: with 10,000
    tenant schemas that listing takes seconds, three times over, to do nothing."""
    with public_scope(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT app, name FROM django_migrations")
        return migrations_on_disk() <= set(cursor.fetchall())


def migrate_public(stdout=None) -> None:
    """Django's migrate in public, unless it has every migration already (a no-op run
    skips it, and its post_migrate, as the replay skips up-to-date tenant schemas)."""
    if public_is_current():
        return
    with public_scope():
        call_command(
            DjangoMigrateCommand(stdout=stdout or io.StringIO(), stderr=io.StringIO()),
            interactive=False,
            verbosity=0,
            skip_checks=True,
        )


def lock_timeout_ms() -> int:
    return int(float(atrium_settings.MIGRATE_LOCK_TIMEOUT) * 1000)


def lock_backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, …) after a lock timeout."""
    return min(5.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())


def is_lock_timeout(exc: BaseException) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) == "55P03":  # lock_not_available
            return True
        exc = exc.__cause__
    return False


def _migrate_in_worker(
    schema_name: str, target: tuple[str, str] | None = None, post_migrate: bool = True
) -> tuple[str, str | None]:
    """Django's migrate in one schema under ``lock_timeout``, retried with backoff."""
    retries = int(atrium_settings.MIGRATE_LOCK_RETRIES)
    try:
        for attempt in range(retries + 1):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, false)", [f"{lock_timeout_ms()}ms"]
                    )
                migrate_schema(schema_name, target, post_migrate=post_migrate)
                return schema_name, None
            except Exception as exc:  # reported per schema; the run goes on
                if is_lock_timeout(exc) and attempt < retries:
                    time.sleep(lock_backoff(attempt + 1))
                    continue
                return schema_name, f"{type(exc).__name__}: {exc}"
        return schema_name, None  # pragma: no cover (the loop always returns)
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")  # a pooled connection outlives this
        except Exception:
            pass
        connections.close_all()


def close_before_fork() -> None:
    """Never share a database socket, or a connection pool and its threads, with forked
    workers: a child would wait forever on the parent's pool."""
    for conn in connections.all(initialized_only=True):
        conn.close()
        if getattr(conn, "pool", None) is not None:
            conn.close_pool()


def migrate_each(
    schemas: list[str],
    *,
    parallel: int = 1,
    target: tuple[str, str] | None = None,
    post_migrate: bool = True,
    on_result: Callable[[str, str | None], None],
) -> None:
    """Django's migrate (up to ``target``) in each schema, in ``parallel`` processes."""
    if parallel <= 1 or len(schemas) <= 1:
        for schema in schemas:
            on_result(*_migrate_in_worker(schema, target, post_migrate))
        return
    close_before_fork()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=parallel, mp_context=context) as pool:
        futures = [
            pool.submit(_migrate_in_worker, schema, target, post_migrate) for schema in schemas
        ]
        for future in as_completed(futures):
            on_result(*future.result())


def migrate_schemas(
    schemas: list[str],
    *,
    parallel: int = 1,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Callable[[str, str | None], None] | None = None,
) -> MigrationReport:
    """Django's own path: its whole migrate once per schema that is behind."""
    started = time.perf_counter()
    report = MigrationReport(checked=len(schemas))
    todo = schemas_behind(schemas)
    if on_plan:
        on_plan(len(todo))
    migrate_each(
        todo,
        parallel=parallel,
        on_result=lambda schema, error: _record(report, schema, error, on_progress),
    )
    report.seconds = time.perf_counter() - started
    return report


def _record(report: MigrationReport, schema: str, error: str | None, on_progress) -> None:
    if error is None:
        report.migrated.append(schema)
    else:
        report.failed[schema] = error
    if on_progress:
        on_progress(schema, error)
