"""Replayed migrations are Django's migrations: same catalog, same rows, in every schema.

A schema migrated by the replay path (atrium/tenants/replay.py, rollout.py) is compared
with one migrated by Django's own ``migrate``: ``pg_dump --schema-only`` of each,
normalised for the schema name, must match exactly, and so must the ``django_migrations``
rows (app and name) and the content types and permissions post_migrate creates. From
zero, and migration by migration (each one replayed from its predecessor's state).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from atrium.conf import atrium_settings
from atrium.tenants import migrator, replay, rollout
from atrium.tenants.context import public_scope
from atrium.tenants.migrator import quote_ident
from atrium.tenants.template import template_clone
from tests.fixtures import REPO_ROOT, cli_env

DJANGO, REPLAYED = "eq_django", "eq_replay"
SESSIONS_INITIAL = ("sessions", "0001_initial")


def fresh_schema(name: str) -> None:
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
        cursor.execute(f"CREATE SCHEMA {quote_ident(name)}")


def drop_schema(name: str) -> None:
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")


@pytest.fixture
def schemas(live_db):
    """Names of scratch schemas, dropped after the test."""
    made: list[str] = []
    yield made
    for name in made:
        drop_schema(name)


def dump(schema: str) -> str:
    db = settings.DATABASES["default"]
    out = subprocess.run(
        [
            "pg_dump",
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            f"--schema={schema}",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"],
            db["NAME"],
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [
        line
        for line in out.splitlines()
        # pg_dump's per-run random key (\restrict) is not part of the schema.
        if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped"))
    ]
    text = "\n".join(lines)
    return re.sub(rf"(?<![\w$]){re.escape(schema)}(?![\w$])", "<schema>", text)


def rows(schema: str) -> dict:
    q = quote_ident(schema)
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
            [schema, ["django_migrations", "django_content_type", "auth_permission"]],
        )
        if cursor.fetchone()[0] < 3:
            return {
                "tables": cursor.execute(
                    "SELECT 1 FROM pg_tables WHERE schemaname = %s", [schema]
                ).fetchall()
            }
        cursor.execute(f"SELECT app, name FROM {q}.django_migrations ORDER BY app, name")
        migrations = cursor.fetchall()
        # By natural key: ids depend on when post_migrate ran (after a fallback's own
        # migrate too), like the timestamps of django_migrations.
        cursor.execute(f"SELECT app_label, model FROM {q}.django_content_type ORDER BY 1, 2")
        types = cursor.fetchall()
        cursor.execute(
            f"SELECT c.app_label, c.model, p.codename, p.name FROM {q}.auth_permission p "
            f"JOIN {q}.django_content_type c ON c.id = p.content_type_id ORDER BY 1, 2, 3"
        )
        perms = cursor.fetchall()
    return {"migrations": migrations, "content_types": types, "permissions": perms}


def assert_same(django_schema: str, replayed_schema: str) -> None:
    assert dump(replayed_schema) == dump(django_schema)
    assert rows(replayed_schema) == rows(django_schema)


def full_plan() -> list[tuple[str, str]]:
    """Every migration Django applies to an empty tenant schema, in its order."""
    with public_scope():
        executor = MigrationExecutor(connection)
        executor.loader = MigrationLoader(None, ignore_no_migrations=True)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    return [(m.app_label, m.name) for m, _backwards in plan]


def test_from_zero_replay_matches_djangos_migrate(schemas):
    schemas += [DJANGO, REPLAYED]
    fresh_schema(DJANGO)
    fresh_schema(REPLAYED)
    migrator.migrate_schema(DJANGO)

    report = rollout.migrate_schemas([REPLAYED])

    assert (report.migrated, report.failed) == ([REPLAYED], {})
    assert_same(DJANGO, REPLAYED)
    # Python data migrations took Django's path, and the report says which and why.
    assert report.fallbacks["contenttypes.0002_remove_content_type_name"].startswith("RunPython")
    assert all(reason for reason in report.fallbacks.values())
    # The rest was replayed as SQL: 1 schema transaction per replay step.
    assert report.replayed >= 2


def test_each_migration_replayed_from_its_predecessor_matches_django(schemas):
    """Both schemas advance one migration at a time, Django's path on one and replay on
    the other, and are compared after every tenant migration."""
    schemas += [DJANGO, REPLAYED]
    fresh_schema(DJANGO)
    fresh_schema(REPLAYED)
    tenant_apps = migrator.tenant_app_labels()
    steps = [key for key in full_plan() if key[0] in tenant_apps]
    assert len(steps) >= 30  # every tenant migration of the project, not a sample

    for key in steps:
        migrator.migrate_schema(DJANGO, key)
        report = rollout.migrate_schemas([REPLAYED], targets=[key])
        assert report.failed == {}, key
        assert rows(REPLAYED) == rows(DJANGO), key
    assert dump(REPLAYED) == dump(DJANGO)


def test_rendered_sql_is_unqualified_and_rendered_once_per_group(schemas):
    names = ["rp_one", "rp_two", "rp_three"]
    schemas += names
    with public_scope():
        for name in names:
            drop_schema(name)
            template_clone(name)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {quote_ident(name)}.django_migrations "
                    "WHERE app = %s AND name = %s",
                    list(SESSIONS_INITIAL),
                )
                cursor.execute(f"DROP TABLE {quote_ident(name)}.django_session")
    states = replay.applied_states(names)
    groups = replay.groups_of(names, states)
    assert [members for _applied, members in groups] == [names]

    [group] = rollout.plans(names)
    [step] = group.steps
    assert step.fallback is None and step.keys == [SESSIONS_INITIAL]
    assert any(sql.startswith('CREATE TABLE "django_session"') for sql in step.sql)
    assert not any("rp_one" in sql for sql in step.sql)

    report = rollout.migrate_schemas(names, parallel=2)
    assert sorted(report.migrated) == sorted(names) and report.failed == {}
    for name in names[1:]:
        assert dump(name).replace(name, "x") == dump(names[0]).replace(names[0], "x")
    assert rollout.migrate_schemas(names).migrated == []  # nothing left to do


def test_a_clone_and_a_schema_django_migrated_are_rendered_for_separately(schemas):
    """Same recorded state, different index names (a clone has PostgreSQL's names for the
    indexes it copied): SQL Django renders with names it looked up in one would be wrong in
    the other, so they are two groups."""
    schemas += ["rp_django", "rp_clone"]
    fresh_schema("rp_django")
    migrator.migrate_schema("rp_django")
    behind_clones("rp_clone")
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM rp_django.django_migrations WHERE app = %s AND name = %s",
            list(SESSIONS_INITIAL),
        )
        cursor.execute("DROP TABLE rp_django.django_session")
    states = replay.applied_states(["rp_django", "rp_clone"])
    assert states["rp_django"] == states["rp_clone"]

    groups = replay.groups_of(["rp_django", "rp_clone"], states)

    assert sorted(members for _state, members in groups) == [["rp_clone"], ["rp_django"]]
    report = rollout.migrate_schemas(["rp_django", "rp_clone"])
    assert sorted(report.migrated) == ["rp_clone", "rp_django"] and report.failed == {}


def test_reading_the_states_holds_one_statements_locks_at_a_time(schemas, monkeypatch):
    """One transaction over every schema's django_migrations held a lock on each: at about
    6,000 schemas PostgreSQL's lock table (max_locks_per_transaction 64) ran out, and a
    no-op ``tenants migrate`` failed. Each statement now commits what it locked."""
    names = ["rp_lk_a", "rp_lk_b", "rp_lk_c"]
    schemas += names
    behind_clones(*names)
    monkeypatch.setattr(replay, "STATUS_BATCH", 1)
    held, inside = [], []

    def count_locks(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not inside:
            inside.append(True)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(DISTINCT l.relation) FROM pg_locks l JOIN pg_class c "
                    "ON c.oid = l.relation WHERE l.pid = pg_backend_pid() "
                    "AND c.relname = 'django_migrations'"
                )
                held.append(cursor.fetchone()[0])
            inside.clear()
        return result

    with connection.execute_wrapper(count_locks):
        states = replay.applied_states(names)

    assert all(replay.is_behind(states[name]) for name in names)
    assert max(held) == 1


def test_dry_run_changes_nothing(schemas):
    schemas.append(REPLAYED)
    fresh_schema(REPLAYED)
    before = dump(REPLAYED)

    report = rollout.migrate_schemas([REPLAYED], dry_run=True)

    assert (report.migrated, report.failed) == ([REPLAYED], {})
    assert dump(REPLAYED) == before
    assert replay.applied_states([REPLAYED]) == {REPLAYED: None}


def test_fallback_reasons():
    from django.db import migrations

    def forwards(apps, schema_editor):
        pass

    class Data(migrations.Migration):
        operations = [migrations.RunPython(forwards)]

    class Both(migrations.Migration):
        operations = [
            migrations.SeparateDatabaseAndState(
                database_operations=[migrations.RunPython(forwards)]
            )
        ]

    class Pure(migrations.Migration):
        operations = [
            migrations.RunSQL("SELECT 1"),
            migrations.SeparateDatabaseAndState(database_operations=[migrations.RunSQL("")]),
        ]

    class Loose(migrations.Migration):
        atomic = False
        operations = []

    with public_scope():
        from atrium.tenants.context import schema_scope

        with schema_scope(atrium_settings.TEMPLATE_SCHEMA):
            alias = connection.alias
            assert "RunPython" in replay.fallback_reason(Data("0009_x", "catalog"), alias)
            assert "SeparateDatabaseAndState" in replay.fallback_reason(
                Both("0009_x", "catalog"), alias
            )
            assert replay.fallback_reason(Pure("0009_x", "catalog"), alias) is None
            assert "non-atomic" in replay.fallback_reason(Loose("0009_x", "catalog"), alias)
            # An app the router keeps out of tenant schemas is only recorded there.
            assert replay.fallback_reason(Data("0009_x", "tenants"), alias) is None


# ----------------------------------------------------------------------------- online safety


def behind_clones(*names: str) -> None:
    """Clones of the template that no longer record (nor have) the sessions table."""
    with public_scope():
        for name in names:
            drop_schema(name)
            template_clone(name)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {quote_ident(name)}.django_migrations "
                    "WHERE app = %s AND name = %s",
                    list(SESSIONS_INITIAL),
                )
                cursor.execute(f"DROP TABLE {quote_ident(name)}.django_session")


def holding_lock(schema: str, table: str) -> psycopg.Connection:
    """Another session that holds ACCESS EXCLUSIVE on ``schema.table`` until closed."""
    holder = psycopg.connect(**connection.get_connection_params())
    holder.execute(
        f"LOCK TABLE {quote_ident(schema)}.{quote_ident(table)} IN ACCESS EXCLUSIVE MODE"
    )
    return holder


def test_a_lock_timeout_is_retried_then_reported_for_that_schema_only(schemas, settings):
    schemas += ["rp_free", "rp_locked"]
    behind_clones("rp_free", "rp_locked")
    settings.ATRIUM_MIGRATE_LOCK_TIMEOUT = 0.2
    settings.ATRIUM_MIGRATE_LOCK_RETRIES = 2
    holder = holding_lock("rp_locked", "django_content_type")
    try:
        report = rollout.migrate_schemas(["rp_free", "rp_locked"], parallel=2)
    finally:
        holder.close()

    assert report.migrated == ["rp_free"]
    assert list(report.failed) == ["rp_locked"]
    assert report.failed["rp_locked"].startswith("lock timeout, 3 attempts")
    assert report.lock_retries == 2
    assert replay.is_behind(replay.applied_states(["rp_locked"])["rp_locked"])
    with connection.cursor() as cursor:  # all or nothing: no table without its record
        cursor.execute("SELECT to_regclass('rp_locked.django_session')")
        assert cursor.fetchone()[0] is None

    again = rollout.migrate_schemas(["rp_free", "rp_locked"])
    assert (again.migrated, again.failed) == (["rp_locked"], {})


def test_a_run_killed_mid_way_leaves_whole_schemas_and_a_rerun_completes(schemas):
    schemas += ["rp_k_first", "rp_k_stuck"]
    behind_clones("rp_k_first", "rp_k_stuck")
    holder = holding_lock("rp_k_stuck", "django_content_type")
    code = (
        "from atrium.tenants import rollout; "
        "rollout.migrate_schemas(['rp_k_first', 'rp_k_stuck'])"
    )
    env = {**cli_env(), "ATRIUM_MIGRATE_LOCK_TIMEOUT": "120"}
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "manage.py"), "shell", "-c", code],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Killed while it waits for rp_k_stuck's lock, rp_k_first done.
        with connection.cursor() as cursor:
            for _ in range(600):
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
                if cursor.fetchone()[0]:
                    break
                process.wait(0.1) if process.poll() is not None else time.sleep(0.1)
            else:
                pytest.fail("the run never reached the locked schema")
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        holder.close()

    states = replay.applied_states(["rp_k_first", "rp_k_stuck"])
    assert not replay.is_behind(states["rp_k_first"])
    assert replay.is_behind(states["rp_k_stuck"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('rp_k_stuck.django_session')")
        assert cursor.fetchone()[0] is None

    rerun = rollout.migrate_schemas(["rp_k_first", "rp_k_stuck"])
    assert (rerun.migrated, rerun.failed) == (["rp_k_stuck"], {})


def test_public_is_migrated_only_when_it_misses_a_migration(live_db):
    """A no-op run does not start Django's migrate in public (which lists every table in
    sight, seconds at 10,000 schemas); a migration public has not recorded runs it."""
    from django.test.utils import CaptureQueriesContext

    assert migrator.public_is_current()
    with CaptureQueriesContext(connection) as queries:
        migrator.migrate_public()
    assert [q["sql"] for q in queries.captured_queries if "search_path" not in q["sql"]] == [
        "SELECT to_regclass('django_migrations') IS NOT NULL",
        "SELECT app, name FROM django_migrations",
    ]
    loader = MigrationLoader(None, ignore_no_migrations=True)
    leaf = max(node for node in loader.graph.leaf_nodes() if node[0] == "catalog")
    with public_scope(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", leaf)
    assert not migrator.public_is_current()
    migrator.migrate_public()  # Django's migrate records it again (a no-op there: tenant app)
    assert migrator.public_is_current()
