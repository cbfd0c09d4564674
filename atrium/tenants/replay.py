"""Plan once, replay everywhere: tenant migrations as SQL rendered once per group of schemas.

Schemas that are behind in exactly the same way (the same recorded migrations) need the
same SQL. This module finds them in a few statements, plans each group once with Django's
own executor, and renders the SQL by letting Django's schema editor run the plan on one
schema of the group inside a transaction that is rolled back, capturing every statement it
executes. The SQL is therefore the SQL Django's ``migrate`` runs, catalog introspection
included (constraint names it looks up read the same in every schema of the group). It is
unqualified: ``search_path`` puts it in each schema (a statement that names the schema it
was rendered in falls back, see :func:`render`).

A migration that cannot be proved to be pure SQL goes through Django's ``migrate`` in each
schema instead (``Step.fallback`` says why): ``RunPython``, a ``SeparateDatabaseAndState``
with such a database part, ``RenameModel`` (its content type and permissions are renamed
by Python signal handlers), a non-atomic migration, any operation class that is not one of
Django's schema operations, and anything after an unknown ``pre_migrate``/``post_migrate``
receiver. ``post_migrate`` itself (content types and permissions of the new models) is
replayed as SQL too (:mod:`atrium.tenants.postmigrate`).
"""

from __future__ import annotations

import re
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, router, transaction
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.db.models.signals import post_migrate, pre_migrate

from . import postmigrate
from .context import public_scope, schema_scope
from .migrator import STATUS_BATCH, expected_tenant_migrations, lock_timeout_ms, quote_ident

Key = tuple[str, str]

# Operation classes whose database side is only schema_editor.execute() of SQL derived
# from the migration state (their exact class, not subclasses defined elsewhere).
SCHEMA_OPERATION_MODULES = (
    "django.db.migrations.operations.models",
    "django.db.migrations.operations.fields",
)
# Signal receivers whose work this module reproduces (or whose migrations fall back).
KNOWN_RECEIVERS = {
    "django.contrib.contenttypes.management.inject_rename_contenttypes_operations",
    "django.contrib.contenttypes.management.create_contenttypes",
    "django.contrib.auth.management.create_permissions",
    "django.contrib.auth.management.rename_permissions_after_model_rename",
    # Installs every trigger after migrate when PGTRIGGER_INSTALL_ON_MIGRATE is set, which
    # Atrium never sets (config/settings/core.py): triggers come with their migrations.
    "pgtrigger.apps.install_on_migrate",
}


def label(migration: Migration) -> str:
    return f"{migration.app_label}.{migration.name}"


# ----------------------------------------------------------------------------- discovery


def applied_states(schemas: list[str]) -> dict[str, frozenset[Key] | None]:
    """Per schema, the migrations it has recorded (``None``: no ``django_migrations`` table).

    One statement per ``STATUS_BATCH`` schemas returns a digest of each schema's recorded
    set; the sets themselves are read from one schema per distinct digest only.
    """
    if not schemas:
        return {}
    states: dict[str, frozenset[Key] | None] = dict.fromkeys(schemas)
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' AND n.nspname = ANY(%s)",
            [schemas],
        )
        found = {row[0] for row in cursor.fetchall()}
        with_table = [s for s in schemas if s in found]
        digests: dict[str, str] = {}
        for start in range(0, len(with_table), STATUS_BATCH):
            batch = with_table[start : start + STATUS_BATCH]
            union = " UNION ALL ".join(
                f"SELECT %s AS s, app || '.' || name AS m FROM {quote_ident(s)}.django_migrations"
                for s in batch
            )
            with _lock_bounded(cursor):
                cursor.execute(
                    f"SELECT s, md5(string_agg(DISTINCT m, ',' ORDER BY m)) FROM ({union}) r "
                    "GROUP BY s",
                    batch,
                )
                digests.update(cursor.fetchall())
        representatives: dict[str, str] = {}
        for schema in with_table:
            representatives.setdefault(digests.get(schema, ""), schema)
        sets: dict[str, frozenset[Key]] = {}
        for digest, schema in representatives.items():
            with _lock_bounded(cursor):
                cursor.execute(f"SELECT app, name FROM {quote_ident(schema)}.django_migrations")
                sets[digest] = frozenset(tuple(row) for row in cursor.fetchall())
    for schema in with_table:
        states[schema] = sets[digests.get(schema, "")]
    return states


@contextmanager
def _lock_bounded(cursor):
    """A transaction of its own under ``lock_timeout``: a table locked by someone else fails
    the run instead of stalling it, and the locks of one statement's tables end with it
    (one transaction over every schema's table exhausts ``max_locks_per_transaction``,
    at about 6,000 schemas with PostgreSQL's defaults)."""
    with transaction.atomic():
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_timeout_ms()}ms"])
        yield


def is_behind(applied: frozenset[Key] | None, targets: list[Key] | None = None) -> bool:
    if targets is not None:
        return applied is None or not set(targets) <= applied
    return applied is None or not expected_tenant_migrations() <= applied


def index_names(schemas: list[str]) -> dict[str, str]:
    """Per schema, a digest of its index and constraint names (one statement).

    Django looks some names up in the catalog while it renders (to drop or alter an index
    or a constraint), and a schema cloned from the template has PostgreSQL's names for the
    indexes the clone copied (``CREATE TABLE … (LIKE … INCLUDING ALL)``) where a schema
    Django migrated has Django's: SQL rendered on one is only valid for schemas with the
    same names.
    """
    if not schemas:
        return {}
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname, md5(string_agg(q.x, ',' ORDER BY q.x)) FROM (
              SELECT c.relnamespace AS ns, t.relname || '.' || c.relname AS x
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              JOIN pg_class t ON t.oid = i.indrelid
              UNION ALL
              SELECT k.connamespace, t.relname || '/' || k.conname
              FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
            ) q JOIN pg_namespace n ON n.oid = q.ns WHERE n.nspname = ANY(%s) GROUP BY 1
            """,
            [schemas],
        )
        return dict(cursor.fetchall())


def groups_of(
    schemas: list[str], states: dict, targets: list[Key] | None = None
) -> list[tuple[frozenset[Key] | None, list[str]]]:
    """The behind schemas grouped by identical recorded state and index names (see
    :func:`index_names`), largest group first."""
    behind = [schema for schema in schemas if is_behind(states[schema], targets)]
    names = index_names(behind)
    groups: dict = {}
    for schema in behind:
        groups.setdefault((states[schema], names.get(schema)), []).append(schema)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    return [(state, members) for (state, _names), members in ordered]


# ----------------------------------------------------------------------------- planning


@dataclass
class Step:
    """Consecutive migrations replayed as SQL, or one migration through Django's migrate."""

    migrations: list[Migration]
    fallback: str | None = None  # why this migration goes through Django's migrate
    sql: list[str] = field(default_factory=list)  # filled by render()
    whole: bool = False  # Django's whole migrate (post_migrate included) for the group
    target: Key | None = None  # a whole migrate's target (None: every migration)

    @property
    def keys(self) -> list[Key]:
        return [(m.app_label, m.name) for m in self.migrations]


@dataclass
class GroupPlan:
    schemas: list[str]
    applied: frozenset[Key] | None
    state: ProjectState  # before the plan
    steps: list[Step]
    post_migrate_sql: list[str]

    @property
    def migrations(self) -> list[Migration]:
        return [m for step in self.steps for m in step.migrations]


def _receiver_names(signal) -> set[str]:
    names = set()
    for entry in signal.receivers:
        ref = entry[1]
        target = ref() if isinstance(ref, weakref.ReferenceType) else ref
        if target is not None:
            names.add(f"{target.__module__}.{target.__qualname__}")
    return names


def _operation_reason(operation) -> str | None:
    if isinstance(operation, ops.RunPython):
        code = getattr(operation.code, "__qualname__", repr(operation.code))
        return f"RunPython {code}: Python code, not SQL"
    if isinstance(operation, ops.SeparateDatabaseAndState):
        for inner in operation.database_operations:
            reason = _operation_reason(inner)
            if reason:
                return f"SeparateDatabaseAndState whose database part has {reason}"
        return None
    if isinstance(operation, ops.RenameModel):
        return "RenameModel: its content type and permissions are renamed in Python"
    if type(operation) is ops.RunSQL:
        return None
    if type(operation).__module__ in SCHEMA_OPERATION_MODULES:
        return None
    kind = f"{type(operation).__module__}.{type(operation).__qualname__}"
    return f"{kind} is not one of Django's schema operations, so not provably pure SQL"


def fallback_reason(migration: Migration, alias: str) -> str | None:
    """Why ``migration`` can't be replayed as SQL in the active schema, or None."""
    if not router.allow_migrate(alias, migration.app_label):
        return None  # recorded only: the router keeps its operations out of tenant schemas
    if migration.replaces:
        return "squashed migration: Django decides which replaced migrations to record"
    if not migration.atomic:
        return "non-atomic migration (atomic = False): can't share the schema's transaction"
    for operation in migration.operations:
        reason = _operation_reason(operation)
        if reason:
            return reason
    return None


def plan_group(
    applied: frozenset[Key] | None, schemas: list[str], targets: list[Key] | None = None
) -> GroupPlan:
    """Django's plan for one group (up to ``targets``, by default every migration), split
    into replayable steps and fallbacks."""
    with schema_scope(schemas[0]):
        executor = MigrationExecutor(connection)
        executor.loader = MigrationLoader(None, ignore_no_migrations=True)
        graph = executor.loader.graph
        executor.loader.applied_migrations = {
            key: graph.nodes[key] for key in (applied or ()) if key in graph.nodes
        }
        plan = executor.migration_plan(targets or graph.leaf_nodes())
        if any(backwards for _migration, backwards in plan):
            raise ValueError("tenants migrate only migrates forwards")
        # The order Django's executor applies them in.
        full = executor.migration_plan(graph.leaf_nodes(), clean_start=True)
        order = {migration: i for i, (migration, _backwards) in enumerate(full)}
        plan.sort(key=lambda item: order[item[0]])
        state = executor._create_project_state(with_applied_migrations=True)
        unknown_pre = _receiver_names(pre_migrate) - KNOWN_RECEIVERS
        unknown_post = _receiver_names(post_migrate) - KNOWN_RECEIVERS
        steps: list[Step] = []
        for migration, _backwards in plan:
            reason = fallback_reason(migration, connection.alias)
            if reason is None and unknown_pre:
                reason = f"unknown pre_migrate receivers: {', '.join(sorted(unknown_pre))}"
            if reason is not None:
                steps.append(Step([migration], fallback=reason))
            elif steps and steps[-1].fallback is None:
                steps[-1].migrations.append(migration)
            else:
                steps.append(Step([migration]))
    final = state.clone()
    for migration, _backwards in plan:
        final = migration.mutate_state(final, preserve=False)
    post_sql = postmigrate.post_migrate_sql(final)
    whole = [s.fallback for s in steps if s.fallback and s.fallback.startswith("RenameModel")]
    if unknown_post:
        whole.append(
            f"post_migrate receivers it doesn't reproduce: {', '.join(sorted(unknown_post))}"
        )
    if post_sql is None:
        whole.append("post_migrate rows for models unlike Django's ContentType and Permission")
    if whole:
        # post_migrate must then run once, with the whole plan, as in Django's own run.
        if targets and len(targets) > 1:
            raise ValueError("Django's migrate takes one target: migrate to each in turn")
        target = targets[0] if targets else None
        steps = [Step([m for m, _b in plan], fallback=whole[0], whole=True, target=target)]
    return GroupPlan(schemas, applied, state, steps, post_sql or [])


# ----------------------------------------------------------------------------- rendering


class SchemaNamed(Exception):
    """A migration's SQL names the schema it was rendered in: it can't be replayed."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _capture(editor, into: list[str]) -> None:
    execute = editor.execute

    def capturing(sql, params=()):
        # What the PostgreSQL schema editor itself does: merge the parameters client-side.
        text = str(sql) if params is None else editor.connection.ops.compose_sql(str(sql), params)
        into.append(text)
        return execute(text, None)

    editor.execute = capturing


def render(
    schema: str, state: ProjectState, migrations: list[Migration], *, lock_timeout_ms: int
) -> tuple[list[str], ProjectState]:
    """Run ``migrations`` on ``schema`` in a transaction that is rolled back; return the SQL
    Django executed and the state after them. Raises :class:`SchemaNamed` when a
    migration's SQL contains the schema's name (an index name derived from it, say)."""
    named = re.compile(rf"(?<![\w$]){re.escape(schema)}(?![\w$])")
    statements: list[str] = []
    state = state.clone()
    with schema_scope(schema), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_timeout_ms}ms"])
        for index, migration in enumerate(migrations):
            if "apps" not in state.__dict__:
                state.apps  # noqa: B018 (render the models once, as the executor does)
            mine: list[str] = []
            with connection.schema_editor(atomic=migration.atomic) as editor:
                _capture(editor, mine)
                state = migration.apply(state, editor)
            if any(named.search(sql) for sql in mine):
                raise SchemaNamed(index)
            statements.extend(mine)
        transaction.set_rollback(True)
    return statements, state


def recorder_table_sql() -> list[str]:
    """The ``django_migrations`` table, as ``MigrationRecorder.ensure_schema()`` creates it."""
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        editor.create_model(MigrationRecorder.Migration)
    return list(editor.collected_sql)


def record_sql(keys: list[Key]) -> str:
    values = ", ".join(["(%s, %s, now())"] * len(keys))
    return connection.ops.compose_sql(
        f"INSERT INTO django_migrations (app, name, applied) VALUES {values}",
        [part for key in keys for part in key],
    )
