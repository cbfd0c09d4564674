"""The migrations ``scale.py migrate`` measures: the replay path of ``tenants migrate`` against
django-tenants.

Three migrations of the catalog app, generated into a temporary package (never into the
repository) and applied one after the other over the same tenants:

1. ``column_index``: a nullable column with an index on ``Product``;
2. ``new_model``: a new model with a foreign key to ``Product``;
3. ``runpython``: a ``RunPython`` data migration, the control that takes the fallback.

For each: ``tenants migrate --parallel N`` (the replay), then the migration undone (plain
SQL, untimed) and applied by django-tenants' ``migrate_schemas`` with its standard and
its multiprocessing executor (a run cut at ``--dt-timeout`` is extrapolated from the
schemas it finished). After each replay, every schema's catalog (columns, indexes,
constraints, normalised for the schema name) is fingerprinted: all must be identical, and
identical to a schema django-tenants migrated. Plus the no-op run of each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

KINDS = [
    (
        "column_index",
        "0090_bench_note",
        "a nullable column + index on Product",
        "operations = [\n"
        "    migrations.AddField('product', 'bench_note', models.CharField(max_length=40, "
        "null=True, blank=True)),\n"
        "    migrations.AddIndex('product', models.Index(fields=['bench_note'], "
        "name='catalog_bench_note_idx')),\n"
        "]\n",
    ),
    (
        "new_model",
        "0091_bench_widget",
        "a new model with a FK to Product",
        "operations = [\n"
        "    migrations.CreateModel('BenchWidget', fields=[\n"
        "        ('id', models.BigAutoField(auto_created=True, primary_key=True, "
        "serialize=False, verbose_name='ID')),\n"
        "        ('label', models.CharField(max_length=40)),\n"
        "        ('product', models.ForeignKey(on_delete=models.CASCADE, related_name='+', "
        "to='catalog.product')),\n"
        "    ]),\n"
        "]\n",
    ),
    (
        "runpython",
        "0092_bench_backfill",
        "a RunPython data migration (fallback control)",
        "def forwards(apps, schema_editor):\n"
        "    Product = apps.get_model('catalog', 'Product')\n"
        "    Product._base_manager.filter(bench_note__isnull=True).update(bench_note='')\n\n\n"
        "operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]\n",
    ),
]
UNDO = {
    "column_index": ["ALTER TABLE {s}.catalog_product DROP COLUMN IF EXISTS bench_note"],
    "new_model": [
        "DROP TABLE IF EXISTS {s}.catalog_benchwidget",
        "DELETE FROM {s}.auth_permission WHERE content_type_id IN (SELECT id FROM "
        "{s}.django_content_type WHERE app_label = 'catalog' AND model = 'benchwidget')",
        "DELETE FROM {s}.django_content_type WHERE app_label = 'catalog' AND model = 'benchwidget'",
    ],
    "runpython": ["UPDATE {s}.catalog_product SET bench_note = NULL"],
}


def write_packages(workdir: Path) -> list[str]:
    """One migrations package per kind: the catalog's own plus the kinds up to it."""
    from django.db.migrations.loader import MigrationLoader

    leaf = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes("catalog")[0][1]
    source = Path(__file__).resolve().parent.parent / "atrium" / "apps" / "catalog" / "migrations"
    names = []
    for upto in range(len(KINDS)):
        package = workdir / f"bench_catalog_{upto}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        for path in source.glob("[0-9]*.py"):
            shutil.copy(path, package / path.name)
        previous = leaf
        for _kind, name, _label, body in KINDS[: upto + 1]:
            (package / f"{name}.py").write_text(
                "from django.db import migrations, models\n\n\n"
                + body.replace("operations = [", "OPERATIONS = [", 1)
                + "\n\nclass Migration(migrations.Migration):\n"
                f"    dependencies = [('catalog', {previous!r})]\n"
                "    operations = OPERATIONS\n"
            )
            previous = name
        names.append(package.name)
    return names


def tenant_schemas() -> list[str]:
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT schema_name FROM tenants_tenant ORDER BY schema_name")
        return [settings.ATRIUM_TEMPLATE_SCHEMA, *(row[0] for row in cursor.fetchall())]


def undo(kind: str, name: str) -> None:
    """Take migration ``name`` (of ``kind``) out of every schema (plain SQL, untimed)."""
    from django.db import connection

    from atrium.tenants.migrator import quote_ident

    with connection.cursor() as cursor:
        for schema in tenant_schemas():
            s = quote_ident(schema)
            for sql in UNDO[kind]:
                cursor.execute(sql.format(s=s))
            cursor.execute(
                f"DELETE FROM {s}.django_migrations WHERE app = 'catalog' AND name = %s", [name]
            )


def fingerprints(schemas: list[str]) -> dict[str, str]:
    """Per schema, a digest of its columns, indexes and constraints (schema name removed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH cols AS (
              SELECT n.nspname AS s, string_agg(c.relname || '.' || a.attname || ':' ||
                format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull,
                ',' ORDER BY c.relname, a.attnum) AS x
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0
                AND NOT a.attisdropped GROUP BY 1),
            idx AS (
              SELECT schemaname AS s, string_agg(indexname || ':' ||
                replace(indexdef, schemaname || '.', ''), ',' ORDER BY indexname) AS x
              FROM pg_indexes WHERE schemaname = ANY(%s) GROUP BY 1),
            con AS (
              SELECT n.nspname AS s, string_agg(c.conname || ':' ||
                replace(pg_get_constraintdef(c.oid), n.nspname || '.', ''), ','
                ORDER BY c.conname) AS x
              FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
              WHERE n.nspname = ANY(%s) GROUP BY 1)
            SELECT cols.s, md5(cols.x || '|' || coalesce(idx.x, '') || '|' || coalesce(con.x, ''))
            FROM cols LEFT JOIN idx USING (s) LEFT JOIN con USING (s)
            """,
            [schemas, schemas, schemas],
        )
        return dict(cursor.fetchall())
