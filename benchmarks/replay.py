"""``scale.py migrate``: the replay path of ``tenants migrate`` against django-tenants.

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

import shlex
import shutil
from pathlib import Path

from benchmarks.common import MIGRATE_SUMMARY, BenchmarkError, log

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


def ours(label: str, env: dict, parallel: int) -> dict:
    from benchmarks.scale import manage

    extra = ["--parallel", str(parallel)]
    code, out, err, wall = manage("tenants", "migrate", *extra, env=env)
    match = MIGRATE_SUMMARY.search(out)
    if match is None or code:
        raise BenchmarkError(f"{label}: `tenants migrate` failed ({code}):\n{out}\n{err}")
    result = {
        "command": shlex.join(["python", "manage.py", "tenants", "migrate", *extra]),
        "exit_code": code,
        "wall_seconds": round(wall, 2),
        "reported_seconds": float(match["seconds"]),
        "checked": int(match["checked"]),
        "migrated": int(match["migrated"]),
        "failed": int(match["failed"]),
        "fallback_lines": [line for line in out.splitlines() if line.startswith("Django's")],
    }
    log(f"  {label}: {result['wall_seconds']} s, {match[0]}")
    return result


def run_migrate(args, workdir: Path, results: dict) -> None:
    import io
    import os

    from django.core.management import call_command
    from django.db import connections

    from atrium.tenants.context import public_scope
    from benchmarks.scale import (
        REPO_ROOT,
        Fleet,
        database_figures,
        django_tenants,
        provisioning_figures,
    )

    log("Migrating the bench database (public and template)…")
    call_command("tenants", "migrate", stdout=io.StringIO())
    fleet = Fleet(args.products)
    log(f"Provisioning {args.tenants} tenants (timed, but not a target here)…")
    with public_scope():
        fleet.grow_to(args.tenants)
    results["provisioning"] = provisioning_figures(fleet, args.tenants, 0)
    results["database"] = database_figures()
    connections.close_all()

    packages = write_packages(workdir)
    plain = {"PYTHONPATH": str(REPO_ROOT)}
    mp = {"TENANT_MULTIPROCESSING_MAX_PROCESSES": str(args.parallel)}
    r = results["runs"]
    n = args.tenants

    def env_for(index: int) -> dict:
        return {
            "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO_ROOT)]),
            "ATRIUM_BENCH_CATALOG_MIGRATIONS": packages[index],
        }

    log("No-op migrations…")
    r["ours_noop"] = ours("ours no-op", plain, args.parallel)
    r["dt_noop_standard"] = django_tenants(
        "dt no-op standard", "standard", plain, args.dt_timeout, n
    )
    r["dt_noop_multiprocessing"] = django_tenants(
        "dt no-op multiprocessing", "multiprocessing", {**plain, **mp}, args.dt_timeout, n
    )
    equivalence = results["equivalence"] = {}
    for index, (kind, name, label, _body) in enumerate(KINDS):
        env = env_for(index)
        log(f"{label}: ours…")
        r[f"ours_{kind}"] = ours(f"ours {kind}", env, args.parallel)
        if r[f"ours_{kind}"]["migrated"] != n + 1:
            raise BenchmarkError(f"ours {kind}: expected {n + 1} schemas migrated")
        # The template is compared with nothing: tenants are clones of it, and a clone's
        # copied indexes carry PostgreSQL's names, not Django's (provisioning.py).
        ours_prints = fingerprints(tenant_schemas()[1:])
        reference = next(iter(ours_prints.values()))
        for executor, extra in (("standard", {}), ("multiprocessing", mp)):
            undo(kind, name)
            log(f"{label}: django-tenants {executor}…")
            key = f"dt_{kind}_{executor}"
            r[key] = django_tenants(key, executor, {**env, **extra}, args.dt_timeout, n)
        dt_prints = fingerprints(tenant_schemas()[1:])
        done_by_dt = [s for s, p in dt_prints.items() if p == reference]
        equivalence[kind] = {
            "schemas": len(ours_prints),
            "distinct_after_replay": len(set(ours_prints.values())),
            "migrated_by_django_tenants_identical_to_replay": len(done_by_dt),
        }
        log(f"  equivalence {kind}: {equivalence[kind]}")
        undo(kind, name)
        if index + 1 < len(KINDS):
            log(f"{label}: re-applied everywhere by the replay (untimed) for the next kind…")
            ours(f"ours {kind} (untimed re-apply)", env, args.parallel)
    for kind, name, _label, _body in reversed(KINDS[:-1]):
        undo(kind, name)
    results["comparison"] = migrate_comparison(r)
    results["targets"] = migrate_targets(r, results, n)


def migrate_comparison(r: dict) -> list[dict]:
    from benchmarks.scale import dt_seconds

    rows = []
    for kind, label in [("noop", "no-op"), *((k, lbl) for k, _n, lbl, _b in KINDS)]:
        mine = r[f"ours_{kind}"]["wall_seconds"]
        row = {"case": label, "ours_seconds": mine}
        for executor in ("standard", "multiprocessing"):
            theirs = r[f"dt_{kind}_{executor}"]
            row[f"dt_{executor}_seconds"] = dt_seconds(theirs)
            row[f"dt_{executor}_extrapolated"] = theirs["cut_at_timeout"]
            row[f"ratio_{executor}"] = round(dt_seconds(theirs) / mine, 1)
        rows.append(row)
    return rows


def migrate_targets(r: dict, results: dict, tenants: int) -> list[dict]:
    column = r["ours_column_index"]["wall_seconds"]
    model = r["ours_new_model"]["wall_seconds"]
    ratios = next(row for row in results["comparison"] if row["case"].startswith("a nullable"))
    worst = min(ratios["ratio_standard"], ratios["ratio_multiprocessing"])
    differing = sum(e["distinct_after_replay"] - 1 for e in results["equivalence"].values())
    return [
        {
            "name": f"new column + index, {tenants} tenants (s)",
            "value": column,
            "target": "<= 30",
            "met": column <= 30,
        },
        {
            "name": "new column + index: django-tenants / ours (worse executor)",
            "value": worst,
            "target": ">= 10",
            "met": worst >= 10,
        },
        {
            "name": f"new model, {tenants} tenants (s)",
            "value": model,
            "target": "<= 30",
            "met": model <= 30,
        },
        {
            "name": "equivalence: schemas whose catalog differs after the replay",
            "value": differing,
            "target": "0",
            "met": differing == 0,
        },
    ]


def render_migrate(results: dict) -> str:
    from benchmarks.scale import render_machine, render_targets

    lines = [
        "# Scale benchmark: migrations (replay against django-tenants)",
        "",
        f"Run {results['started_at']} ({results.get('duration_seconds', 0):.0f} s) with "
        f"`{results['command']}`: {results['parameters']['tenants']} tenants, "
        f"database {results['database']['database_mib']} MiB, "
        f"load average at start {results['load_average_at_start']}.",
        "",
        "| case | ours s | dt standard s | ratio | dt multiprocessing s | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["comparison"]:
        std = (
            f"{row['dt_standard_seconds']}{' (extrap.)' if row['dt_standard_extrapolated'] else ''}"
        )
        mp = f"{row['dt_multiprocessing_seconds']}{' (extrap.)' if row['dt_multiprocessing_extrapolated'] else ''}"
        lines.append(
            f"| {row['case']} | {row['ours_seconds']} | {std} | {row['ratio_standard']}x | "
            f"{mp} | {row['ratio_multiprocessing']}x |"
        )
    lines += ["", "| run | command | wall s | notes |", "|---|---|---:|---|"]
    for key, run in results["runs"].items():
        notes = []
        if "migrated" in run:
            notes.append(f"migrated {run['migrated']} of {run['checked']}")
        notes += [f"`{line}`" for line in run.get("fallback_lines", [])]
        if "tenant_schemas_started" in run:
            notes.append(f"{run['tenant_schemas_started']} tenant schemas started")
        if run.get("cut_at_timeout"):
            notes.append(f"cut at the timeout, extrapolated {run['extrapolated_seconds']} s")
        lines.append(f"| {key} | `{run['command']}` | {run['wall_seconds']} | {'; '.join(notes)} |")
    lines += ["", "| kind | schemas | distinct catalogs after replay | dt-migrated identical |"]
    lines += ["|---|---:|---:|---:|"]
    for kind, e in results["equivalence"].items():
        lines.append(
            f"| {kind} | {e['schemas']} | {e['distinct_after_replay']} | "
            f"{e['migrated_by_django_tenants_identical_to_replay']} |"
        )
    lines += render_targets(results["targets"])
    lines += [render_machine(results), ""]
    return "\n".join(lines)
