"""``tenants migrate``'s default path: each group's plan replayed in every schema, in parallel.

Per group of identically-behind schemas (see :mod:`atrium.tenants.replay`), step by step:
a replay step's SQL is rendered once, then executed in each schema over a pool of direct
psycopg connections, one transaction per schema that sets ``search_path`` and
``lock_timeout``, takes the schema's migration lock, checks that the schema is still in
the group's state, runs the SQL and records the ``django_migrations`` rows (and, at the
last step, the post_migrate rows). A lock timeout is retried with backoff, then reported
as that schema's failure. A fallback step runs Django's migrate up to that migration in
each schema. Every transaction is all-or-nothing, so a run that is killed can simply be
run again: it finds the schemas that are still behind, and only those.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from django.conf import settings
from django.db import connection

from atrium.conf import atrium_settings

from . import replay
from .migrator import (
    MigrationReport,
    is_lock_timeout,
    lock_backoff,
    lock_timeout_ms,
    migrate_each,
    quote_ident,
)

Progress = Callable[[str, str | None], None]


class _Skip(Exception):
    """The schema is no longer in the group's state (another run got there first)."""

    def __init__(self, done: bool) -> None:
        super().__init__()
        self.done = done


class _DryRun(Exception):
    """Raised inside a schema's transaction to roll it back after a successful dry run."""


def search_path(schema: str) -> str:
    """The ``search_path`` django-tenants gives a tenant schema: the schema, then public."""
    extra = getattr(settings, "PG_EXTRA_SEARCH_PATHS", [])
    return ", ".join(quote_ident(s) for s in [schema, settings.PUBLIC_SCHEMA_NAME, *extra])


def _connect() -> psycopg.Connection:
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def apply_sql(
    conn: psycopg.Connection,
    schema: str,
    body: list[str],
    keys: list[replay.Key],
    *,
    table_missing: bool,
    dry_run: bool = False,
) -> tuple[str | None, int]:
    """Run ``body`` in ``schema`` in one transaction; returns (error or None, lock retries)."""
    retries = int(atrium_settings.MIGRATE_LOCK_RETRIES)
    wanted = ", ".join(["(%s, %s)"] * len(keys))
    flat = [part for key in keys for part in key]
    for attempt in range(retries + 1):
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT set_config('search_path', %s, true), set_config('lock_timeout', %s, true)",
                    [search_path(schema), f"{lock_timeout_ms()}ms"],
                )
                # One migrator per schema at a time; a second run waits (under lock_timeout).
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"migrate:{schema}"]
                )
                if table_missing:
                    found = conn.execute(
                        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relname = 'django_migrations'",
                        [schema],
                    ).fetchone()[0]
                    if found:
                        raise _Skip(done=False)
                else:
                    found = conn.execute(
                        f"SELECT count(*) FROM {quote_ident(schema)}.django_migrations "
                        f"WHERE (app, name) IN ({wanted})",
                        flat,
                    ).fetchone()[0]
                    if found:
                        raise _Skip(done=found == len(keys))
                for sql in body:
                    conn.execute(sql)
                if dry_run:
                    raise _DryRun
            return None, attempt
        except _DryRun:
            return None, attempt
        except _Skip as skip:
            if skip.done:
                return None, attempt
            return "its migrations changed during the run: run `tenants migrate` again", attempt
        except psycopg.Error as exc:
            if is_lock_timeout(exc) and attempt < retries:
                time.sleep(lock_backoff(attempt + 1))
                continue
            if is_lock_timeout(exc):
                return f"lock timeout, {attempt + 1} attempts: {exc}".strip(), attempt
            return f"{type(exc).__name__}: {exc}".strip(), attempt
    raise AssertionError("unreachable")  # pragma: no cover


def replay_each(
    schemas: list[str],
    body: list[str],
    keys: list[replay.Key],
    *,
    parallel: int,
    table_missing: bool,
    dry_run: bool,
    on_result: Callable[[str, str | None, int], None],
) -> None:
    """``apply_sql`` in each schema over ``parallel`` connections (threads)."""
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for schema in schemas:
        todo.put(schema)
    lock = threading.Lock()

    def worker() -> None:
        conn = None
        try:
            while True:
                try:
                    schema = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    if conn is None or conn.closed:
                        conn = _connect()
                    error, retries = apply_sql(
                        conn, schema, body, keys, table_missing=table_missing, dry_run=dry_run
                    )
                except psycopg.Error as exc:  # the connection itself failed
                    error, retries = f"{type(exc).__name__}: {exc}", 0
                    if conn is not None:
                        conn.close()
                with lock:
                    on_result(schema, error, retries)
        finally:
            if conn is not None:
                conn.close()

    workers = max(1, min(parallel, len(schemas)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrate") as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()


def _render_on_some(alive: list[str], state, step: replay.Step, report, on_failed):
    """Render ``step`` on the first schema of ``alive`` where it works. A schema where it
    fails (with anything but a lock timeout, which is retried) has failed itself: Django's
    migrate would fail there the same way."""
    retries = int(atrium_settings.MIGRATE_LOCK_RETRIES)
    while alive:
        schema = alive[0]
        for attempt in range(retries + 1):
            try:
                return replay.render(
                    schema, state, step.migrations, lock_timeout_ms=lock_timeout_ms()
                )
            except replay.SchemaNamed:
                raise
            except Exception as exc:
                if is_lock_timeout(exc) and attempt < retries:
                    report.lock_retries += 1
                    time.sleep(lock_backoff(attempt + 1))
                    continue
                alive.pop(0)
                on_failed(schema, f"{type(exc).__name__}: {exc}".strip())
                break
    return None


def run_group(
    group: replay.GroupPlan,
    report: MigrationReport,
    *,
    parallel: int,
    dry_run: bool,
    on_progress: Progress | None,
) -> None:
    alive = list(group.schemas)
    steps = list(group.steps)
    state = group.state
    table_missing = group.applied is None
    done = _done_factory(report, on_progress)

    def failed(schema: str, error: str) -> None:
        report.failed[schema] = error
        if schema in alive:
            alive.remove(schema)
        if on_progress:
            on_progress(schema, error)

    index = 0
    while index < len(steps) and alive:
        step = steps[index]
        last = index == len(steps) - 1
        if step.fallback is not None:
            for migration in step.migrations:
                report.fallbacks.setdefault(replay.label(migration), step.fallback)
            if dry_run:
                break  # Django's migrate can't be rehearsed: what follows depends on it

            def fallen(schema: str, error: str | None, last=last) -> None:
                if error:
                    failed(schema, error)
                elif last:
                    done(schema)

            migration = step.migrations[-1]
            # post_migrate runs once, at the end: here only if nothing is replayed after.
            migrate_each(
                list(alive),
                parallel=parallel,
                target=step.target if step.whole else (migration.app_label, migration.name),
                post_migrate=last,
                on_result=fallen,
            )
            for migration in step.migrations:
                state = migration.mutate_state(state, preserve=True)
            table_missing = False
            index += 1
            continue
        try:
            rendered = _render_on_some(alive, state, step, report, failed)
        except replay.SchemaNamed as named:
            # Split: the migrations before it replay, it falls back, the rest replay.
            at = named.index
            migration = step.migrations[at]
            parts = [
                replay.Step(step.migrations[:at]),
                replay.Step([migration], fallback="its SQL names the schema it was rendered in"),
                replay.Step(step.migrations[at + 1 :]),
            ]
            steps[index : index + 1] = [part for part in parts if part.migrations]
            continue
        if rendered is None:
            break
        sql, after = rendered
        step.sql = sql
        body = [
            *(replay.recorder_table_sql() if table_missing else []),
            *sql,
            replay.record_sql(step.keys),
            *(group.post_migrate_sql if last else []),
        ]

        def replayed(schema: str, error: str | None, retries: int, last=last) -> None:
            report.lock_retries += retries
            if error:
                failed(schema, error)
                return
            report.replayed += 1
            if last:
                done(schema)

        replay_each(
            list(alive),
            body,
            step.keys,
            parallel=parallel,
            table_missing=table_missing,
            dry_run=dry_run,
            on_result=replayed,
        )
        state = after
        table_missing = False
        index += 1
        if dry_run:
            break  # a later step would be rendered on a schema this one hasn't changed
    if dry_run and index < len(steps):
        for schema in alive:
            if schema not in report.migrated:
                done(schema)  # as far as a dry run can tell


def _done_factory(report: MigrationReport, on_progress: Progress | None):
    def done(schema: str) -> None:
        report.migrated.append(schema)
        if on_progress:
            on_progress(schema, None)

    return done


def migrate_schemas(
    schemas: list[str],
    *,
    parallel: int = 1,
    dry_run: bool = False,
    targets: list[replay.Key] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_progress: Progress | None = None,
) -> MigrationReport:
    """Replay the migrations of every schema that is behind; what was migrated and failed.

    With ``dry_run`` every schema's transaction is rolled back (and stops before a
    migration that would go through Django's migrate), so nothing changes."""
    started = time.perf_counter()
    report = MigrationReport(checked=len(schemas))
    states = replay.applied_states(schemas)
    groups = replay.groups_of(schemas, states, targets)
    if on_plan:
        on_plan(sum(len(members) for _applied, members in groups))
    for applied, members in groups:
        group = replay.plan_group(applied, members, targets)
        run_group(group, report, parallel=parallel, dry_run=dry_run, on_progress=on_progress)
    report.seconds = time.perf_counter() - started
    return report


def plans(schemas: list[str]) -> list[replay.GroupPlan]:
    """Each group's plan, with each replay step's SQL rendered (in rolled-back transactions)
    on the group's first schema. A step after a fallback is rendered on the state the
    schema has now, as ``sqlmigrate`` does: at run time it is rendered again after the
    fallback has run."""
    states = replay.applied_states(schemas)
    result = []
    for applied, members in replay.groups_of(schemas, states):
        group = replay.plan_group(applied, members)
        state = group.state
        for step in group.steps:
            if step.fallback is None:
                try:
                    step.sql, state = replay.render(
                        members[0], state, step.migrations, lock_timeout_ms=lock_timeout_ms()
                    )
                except Exception as exc:
                    step.sql = [f"-- can't render on {members[0]}: {type(exc).__name__}: {exc}"]
                    for migration in step.migrations:
                        state = migration.mutate_state(state, preserve=True)
            else:
                for migration in step.migrations:
                    state = migration.mutate_state(state, preserve=True)
        result.append(group)
    return result
