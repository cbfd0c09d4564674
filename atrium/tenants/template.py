"""The ``_template`` schema, migrated once, and clones of it: every new schema is one.

A clone copies the template's tables, rows, sequences and foreign keys in one transaction
(``template_clone``); migrations are never run again for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from atrium.conf import atrium_settings

from . import errors
from .context import public_scope
from .migrator import migrate_schema, quote_ident, schemas_behind


def template_exists() -> bool:
    return schema_exists(atrium_settings.TEMPLATE_SCHEMA)


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def template_ensure() -> bool:
    """Create the template schema if it is missing; returns True when it was created."""
    with public_scope():
        if template_exists():
            return False
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {quote_ident(atrium_settings.TEMPLATE_SCHEMA)}")
    migrate_schema(atrium_settings.TEMPLATE_SCHEMA)
    return True


def template_require() -> None:
    """Refuse to clone a template that is missing or behind the code's migrations."""
    if not template_exists():
        raise errors.TemplateNotReady(
            "The template schema is missing: run `python manage.py tenants migrate` first."
        )
    if schemas_behind([atrium_settings.TEMPLATE_SCHEMA]):
        raise errors.TemplateNotReady(
            "The template schema is behind the code's migrations: run "
            "`python manage.py tenants migrate` first."
        )


@dataclass(frozen=True)
class _ClonePlan:
    """What a clone of the template copies, read from the catalog once per template state."""

    tables: tuple[str, ...]
    identity_columns: tuple[tuple[str, str], ...]
    foreign_keys: tuple[tuple[str, str, str], ...]  # (table, constraint, definition)
    # The template's own functions (the audit log's append-only trigger function) and the
    # triggers on its tables, which CREATE TABLE … LIKE does not copy.
    functions: tuple[str, ...] = ()
    triggers: tuple[tuple[str, str, str | None], ...] = ()  # (name, definition, comment)


_clone_plans: dict[tuple, _ClonePlan] = {}


def _template_state(cursor) -> tuple:
    """Changes whenever the template is re-created or migrated: the plan cache's key."""
    source = quote_ident(atrium_settings.TEMPLATE_SCHEMA)
    cursor.execute(
        f"SELECT %s::regnamespace::oid, count(*), max(id) FROM {source}.django_migrations",
        [atrium_settings.TEMPLATE_SCHEMA],
    )
    return cursor.fetchone()


def _clone_plan(cursor) -> _ClonePlan:
    """The template's tables, identity columns and foreign keys (cached per template state).

    PostgreSQL has no index on a relation's namespace alone, so each of these catalog
    queries scans all of pg_class, which grows by ~110 rows per tenant schema: at 10,000
    tenants one scan takes a quarter of a second. Read once per process and template state,
    a clone's cost no longer depends on how many tenants exist.
    """
    key = _template_state(cursor)
    plan = _clone_plans.get(key)
    if plan is not None:
        return plan
    source = atrium_settings.TEMPLATE_SCHEMA
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace "
        "AND relkind = 'r' ORDER BY relname",
        [source],
    )
    tables = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' AND a.attidentity <> '' "
        "ORDER BY 1, 2",
        [source],
    )
    identity_columns = tuple((table, column) for table, column in cursor.fetchall())
    cursor.execute(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid "
        "WHERE k.connamespace = %s::regnamespace AND k.contype = 'f' ORDER BY 1, 2",
        [source],
    )
    foreign_keys = tuple((table, name, definition) for table, name, definition in cursor.fetchall())
    cursor.execute(
        "SELECT pg_get_functiondef(p.oid) FROM pg_proc p "
        "WHERE p.pronamespace = %s::regnamespace ORDER BY p.proname",
        [source],
    )
    functions = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT t.tgname, pg_get_triggerdef(t.oid), obj_description(t.oid, 'pg_trigger') "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal ORDER BY 1",
        [source],
    )
    triggers = tuple((name, definition, comment) for name, definition, comment in cursor.fetchall())
    plan = _ClonePlan(tables, identity_columns, foreign_keys, functions, triggers)
    _clone_plans.clear()  # only the current template state is worth keeping
    _clone_plans[key] = plan
    return plan


def template_clone(target: str) -> None:
    """Copy ``_template`` into a new schema: tables, indexes, constraints, rows, sequences.

    What to copy comes from the template's own catalog entries (``_clone_plan``), so the
    cost depends on the template alone, not on how many tenant schemas exist
    (django-tenants' ``clone_schema()`` scans every schema's columns and slows down as
    tenants are added). The template's rows are its migration records, content types and
    permissions, which every tenant schema needs as they are.
    """
    source, quoted_target = atrium_settings.TEMPLATE_SCHEMA, quote_ident(target)
    with connection.cursor() as cursor:
        plan = _clone_plan(cursor)
        cursor.execute(f"CREATE SCHEMA {quoted_target}")
        for table in plan.tables:
            cursor.execute(
                f"CREATE TABLE {quoted_target}.{quote_ident(table)} "
                f"(LIKE {quote_ident(source)}.{quote_ident(table)} INCLUDING ALL)"
            )
            cursor.execute(
                f"INSERT INTO {quoted_target}.{quote_ident(table)} "
                f"SELECT * FROM {quote_ident(source)}.{quote_ident(table)}"
            )
        # Identity columns got fresh sequences: move them past the copied rows.
        for table, column in plan.identity_columns:
            qualified = f"{quoted_target}.{quote_ident(table)}"
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                f"COALESCE((SELECT max({quote_ident(column)}) FROM {qualified}), 0) + 1, false)",
                [qualified, column],
            )
        # Foreign keys last (LIKE does not copy them), pointing into the new schema.
        for table, name, definition in plan.foreign_keys:
            definition = definition.replace(
                f"REFERENCES {source}.", f"REFERENCES {quoted_target}."
            ).replace(f"REFERENCES {quote_ident(source)}.", f"REFERENCES {quoted_target}.")
            if f"REFERENCES {quoted_target}." not in definition:
                raise RuntimeError(f"Unexpected foreign key outside the template: {definition}")
            cursor.execute(
                f"ALTER TABLE {quoted_target}.{quote_ident(table)} "
                f"ADD CONSTRAINT {quote_ident(name)} {definition}"
            )
        # Functions, then the triggers that call them, in the new schema.
        for definition in plan.functions:
            cursor.execute(_in_schema(definition, "FUNCTION", source, quoted_target))
        for name, definition, comment in plan.triggers:
            definition = _in_schema(definition, "ON", source, quoted_target)
            definition = _in_schema(definition, "FUNCTION", source, quoted_target, required=False)
            cursor.execute(definition)
            if comment is not None:
                table = definition.split(f" ON {quoted_target}.", 1)[1].split(" ", 1)[0]
                cursor.execute(
                    f"COMMENT ON TRIGGER {quote_ident(name)} ON {quoted_target}.{table} IS %s",
                    [comment],
                )


def _in_schema(
    definition: str, keyword: str, source: str, quoted_target: str, required: bool = True
) -> str:
    """``definition`` (from pg_get_functiondef/pg_get_triggerdef) with ``<keyword>
    <source>.`` pointing into the target schema."""
    for prefix in (f"{keyword} {quote_ident(source)}.", f"{keyword} {source}."):
        if prefix in definition:
            return definition.replace(prefix, f"{keyword} {quoted_target}.")
    if required:
        raise RuntimeError(f"Unexpected definition outside the template: {definition}")
    return definition
