#!/usr/bin/env python
"""Tenant provisioning benchmark: Atrium's fast path against django-tenants' default one.

In one run, on a database of its own (created at the start, dropped at the end):

1. ``tenant_create`` (atrium.tenants.provisioning) N times with a spare in the pool and
   N times with the pool empty (template clone);
2. django-tenants' default creation M times: ``TenantMixin.save()`` with
   ``auto_create_schema=True`` (CREATE SCHEMA + every tenant migration), plus the domain
   and the owner user, so the work matches ``tenant_create``'s;
3. ``tenants migrate`` with nothing to do over T tenants, as the real CLI (a subprocess)
   and as the in-process ``migrate_schemas`` call;
4. both creation paths again once the database holds T tenants, and what a template clone
   costs as the database fills up (from the untimed creation of those T tenants).

Results go to benchmarks/results/provisioning.{json,md}. See benchmarks/README.md.

    .venv/bin/python benchmarks/provisioning.py      # the full run
    .venv/bin/python benchmarks/provisioning.py --n 5 --m 2 --t 20 --results-dir /tmp/bench
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import (  # noqa: E402 (the repository root must be importable first)
    MIGRATE_SUMMARY,
    BenchmarkError,
    claim_redis_db,
    database_name,
    drop_database,
    git_state,
    log,
    machine_basics,
    percentile,
    refuse_foreign_database,
    write_atomically,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/atrium_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
# Written to the bench Redis DB, so that a later run knows the DB is the benchmark's own.
REDIS_MARKER_KEY = "atrium-bench:provisioning"

TARGET_P50_MS = 100.0
TARGET_SPEEDUP = 10.0
TARGET_MIGRATE_SECONDS = 60.0


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=50, help="Timed creations per path of ours.")
    parser.add_argument("--m", type=int, default=10, help="Timed django-tenants creations.")
    parser.add_argument("--t", type=int, default=500, help="Tenants for the no-op migrate.")
    parser.add_argument(
        "--warmup", type=int, default=1, help="Untimed creations before each timed series."
    )
    parser.add_argument(
        "--n-at-t",
        type=int,
        default=10,
        help="Timed spare creations once the database holds T tenants (after the migrate).",
    )
    parser.add_argument(
        "--m-at-t",
        type=int,
        default=5,
        help="Timed django-tenants creations once the database holds T tenants.",
    )
    parser.add_argument(
        "--migrate-runs", type=int, default=3, help="Runs of each no-op migrate measurement."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ATRIUM_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="Bench database (created and dropped; its name must contain 'bench').",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("ATRIUM_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis DB of the benchmark's own: cache, routing and Celery broker.",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="Where results go."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the bench database and Redis DB at the end."
    )
    parser.add_argument(
        "--check", action="store_true", help="Exit with status 1 when a target is missed."
    )
    args = parser.parse_args(argv)
    for name in ("n", "m", "t", "n_at_t", "m_at_t", "migrate_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


# ----------------------------------------------------------------------------- services


def configure_environment(args: argparse.Namespace) -> None:
    """Point Django at the bench database and Redis DB; must run before django.setup()."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    # DEBUG records every query; that overhead grows with the number of queries, so it would
    # slow django-tenants' path (many more queries: the migrations) more than ours.
    os.environ.setdefault("DEBUG", "0")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    # tenant_create() queues a pool refill after commit: it goes to the bench Redis DB,
    # where no worker listens, and is purged at the end. It never runs in this process.
    os.environ["CELERY_BROKER_URL"] = args.redis_url
    # The pool is filled explicitly (pool_fill(N), untimed); a target of 0 makes a refill
    # task a no-op even if some worker ever picked one up.
    os.environ["ATRIUM_SPARE_POOL_SIZE"] = "0"


def django_setup() -> None:
    import django

    django.setup()


def check_preconditions() -> dict:
    """What makes the comparison honest, checked and recorded."""
    from django.conf import settings
    from django_tenants.utils import get_creation_fakes_migrations

    from config.celery import app as celery_app

    if celery_app.conf.task_always_eager:
        raise BenchmarkError(
            "CELERY_TASK_ALWAYS_EAGER is on: the pool refill would run inside the timed "
            "tenant_create() calls. Use settings where it is off (config.settings.dev)."
        )
    if get_creation_fakes_migrations() or getattr(settings, "TENANT_BASE_SCHEMA", None):
        raise BenchmarkError(
            "TENANT_CREATION_FAKES_MIGRATIONS/TENANT_BASE_SCHEMA are set: django-tenants' "
            "default path would clone a schema instead of running the migrations."
        )
    if getattr(settings, "TENANT_MIGRATION_EXECUTOR", "standard") != "standard":
        raise BenchmarkError("TENANT_MIGRATION_EXECUTOR is not django-tenants' standard one.")
    return {
        "django_settings_module": os.environ["DJANGO_SETTINGS_MODULE"],
        "debug": settings.DEBUG,
        "celery_task_always_eager": celery_app.conf.task_always_eager,
        "celery_broker_url": celery_app.conf.broker_url,
        "atrium_spare_pool_size": settings.ATRIUM_SPARE_POOL_SIZE,
        "tenant_creation_fakes_migrations": get_creation_fakes_migrations(),
        "tenant_base_schema": getattr(settings, "TENANT_BASE_SCHEMA", None),
        "tenant_migration_executor": getattr(settings, "TENANT_MIGRATION_EXECUTOR", "standard"),
        "password_hasher_for_owner": "generated_sha256 (both paths)",
    }


# ----------------------------------------------------------------------------- statistics


def summarize(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "min_ms": round(min(ms), 2),
        "samples_ms": [round(v, 2) for v in ms],
    }


# ----------------------------------------------------------------------------- creation paths


def create_ours(slug: str, expected_source: str) -> float:
    """One ``tenant_create`` (timed) and a check that it took the path under test."""
    from atrium.tenants.provisioning import tenant_create

    started = time.perf_counter()
    result = tenant_create(slug=slug, name=f"Bench {slug}", owner_email=f"owner@{slug}.test")
    elapsed = time.perf_counter() - started
    if result.schema_source != expected_source:
        raise BenchmarkError(
            f"{slug}: expected a schema from a {expected_source}, got one from a "
            f"{result.schema_source}; something changed the spare pool during the run."
        )
    return elapsed


def create_default(slug: str) -> float:
    """django-tenants' own path: save() creates the schema and runs every tenant migration.

    Then the domain row and the owner user, as tenant_create() does, through the same user
    manager method (a generated one-time password with the fast hasher). No outer
    transaction: django-tenants' create_tenant command does not use one either.
    """
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django_tenants.utils import tenant_context

    from atrium.tenants.context import public_scope
    from atrium.tenants.models import Domain, Tenant, TenantStatus
    from atrium.tenants.naming import schema_name_for

    user_model = get_user_model()
    started = time.perf_counter()
    with public_scope():
        tenant = Tenant(
            slug=slug,
            name=f"Bench {slug}",
            schema_name=schema_name_for(slug),
            status=TenantStatus.ACTIVE,
        )
        tenant.auto_create_schema = True  # the model says False: we provision ourselves
        tenant.save(verbosity=0)
        Domain(domain=f"{slug}.{settings.ATRIUM_BASE_DOMAIN}", tenant=tenant).save()
        with tenant_context(tenant):
            user_model.objects.create_with_role(f"owner@{slug}.test", role="owner")
    elapsed = time.perf_counter() - started
    verify_tenant_complete(tenant.schema_name)
    return elapsed


def verify_tenant_complete(schema_name: str) -> None:
    """Every tenant migration recorded, and the owner in the schema."""
    from django.contrib.auth import get_user_model

    from atrium.tenants.context import schema_scope
    from atrium.tenants.migrator import schemas_behind

    if schemas_behind([schema_name]):
        raise BenchmarkError(f"{schema_name} misses tenant migrations after creation.")
    with schema_scope(schema_name):
        if get_user_model().objects.filter(role="owner").count() != 1:
            raise BenchmarkError(f"{schema_name} has no owner after creation.")


def schema_row_counts(schema_name: str) -> dict[str, int]:
    """Rows per table of a schema: its tables, content types, permissions, owner, migrations."""
    from django.db import connection

    from atrium.tenants.migrator import quote_ident

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [schema_name],
        )
        tables = sorted(row[0] for row in cursor.fetchall())
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {quote_ident(schema_name)}.{quote_ident(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def compare_schemas(ours: str, default: str) -> dict:
    """Both paths must give a tenant the same tables with the same number of rows."""
    rows_ours, rows_default = schema_row_counts(ours), schema_row_counts(default)
    if rows_ours != rows_default:
        raise BenchmarkError(
            f"The paths build different schemas: {ours} {rows_ours} vs {default} {rows_default}"
        )
    return {
        "same_tables_and_row_counts_both_paths": True,
        "tenant_schema_tables": len(rows_ours),
        "tenant_schema_rows": rows_ours,
    }


def tenant_count() -> int:
    from atrium.tenants.context import public_scope
    from atrium.tenants.models import Tenant

    with public_scope():
        return Tenant.objects.count()


def timed_series(
    label: str, count: int, warmup: int, create: Callable[[str], float], slug_prefix: str
) -> dict:
    """Warm-up calls, then ``count`` timed ones; their summary."""
    for index in range(warmup):
        create(f"{slug_prefix}-warm-{index}")
    tenants_before = tenant_count()
    samples = []
    for index in range(count):
        samples.append(create(f"{slug_prefix}-{index:04d}"))
        if (index + 1) % 10 == 0 or index + 1 == count:
            log(f"  {label}: {index + 1}/{count}, last {samples[-1] * 1000:.1f} ms")
    return {"tenants_before": tenants_before, **summarize(samples)}


# ----------------------------------------------------------------------------- migrate no-op


def all_schemas() -> list[str]:
    """What `tenants migrate` checks: the template, the spares and every tenant."""
    from django.conf import settings

    from atrium.tenants.context import public_scope
    from atrium.tenants.models import Tenant
    from atrium.tenants.pool import spare_schemas

    with public_scope():
        return [
            settings.ATRIUM_TEMPLATE_SCHEMA,
            *spare_schemas(),
            *Tenant.objects.order_by("slug").values_list("schema_name", flat=True),
        ]


def provision_up_to(total: int, block: int = 50) -> tuple[int, list[dict]]:
    """Create tenants through our path (pool empty: clones) until there are ``total``.

    Not part of the targets; the durations are kept, by blocks of ``block`` creations, to
    show how the clone's cost changes as the database fills with schemas.
    """
    from atrium.tenants.provisioning import tenant_create

    existing = tenant_count()
    missing = max(0, total - existing)
    trend, durations = [], []
    for index in range(missing):
        slug = f"fill-{index:05d}"
        result = tenant_create(slug=slug, name=f"Bench {slug}", owner_email=f"owner@{slug}.test")
        if result.schema_source != "clone":
            raise BenchmarkError(f"{slug}: expected a clone, got a {result.schema_source}.")
        durations.append(result.seconds)
        if len(durations) == block or index + 1 == missing:
            first = existing + index + 1 - len(durations)
            trend.append(
                {
                    "tenants_before": first,
                    "creations": len(durations),
                    "p50_ms": round(percentile([d * 1000 for d in durations], 0.5), 1),
                }
            )
            log(
                f"  provisioned {index + 1}/{missing}, p50 of the last block {trend[-1]['p50_ms']} ms"
            )
            durations = []
    return tenant_count(), trend


def run_cli_migrate(expected_schemas: int) -> dict:
    command = [sys.executable, "manage.py", "tenants", "migrate"]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    match = MIGRATE_SUMMARY.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        raise BenchmarkError(
            f"`tenants migrate` failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    if int(match["migrated"]) or int(match["failed"]):
        raise BenchmarkError(f"`tenants migrate` had work to do: {match[0]}")
    if int(match["checked"]) != expected_schemas:
        raise BenchmarkError(
            f"`tenants migrate` checked {match['checked']}, not {expected_schemas}"
        )
    return {"wall_seconds": round(elapsed, 3), "reported_seconds": float(match["seconds"])}


def run_in_process_migrate(schemas: list[str]) -> float:
    from atrium.tenants.context import public_scope
    from atrium.tenants.migrator import migrate_schemas

    started = time.perf_counter()
    with public_scope():
        report = migrate_schemas(schemas)
    elapsed = time.perf_counter() - started
    if report.migrated or report.failed:
        raise BenchmarkError(f"migrate_schemas had work to do: {report}")
    return elapsed


# ----------------------------------------------------------------------------- machine


def machine_info(redis_client: redis.Redis) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
        pg_settings = {}
        for name in ("shared_buffers", "synchronous_commit", "fsync", "max_connections"):
            cursor.execute(f"SHOW {name}")
            pg_settings[name] = cursor.fetchone()[0]
    return {
        **machine_basics(),
        "django": metadata.version("django"),
        "django_tenants": metadata.version("django-tenants"),
        "psycopg": metadata.version("psycopg"),
        "celery": metadata.version("celery"),
        "postgresql": pg_version,
        "postgresql_host": connection.settings_dict["HOST"] or "local socket",
        "postgresql_settings": pg_settings,
        "redis_server": redis_client.info("server").get("redis_version"),
        # Other work on the machine skews the figures; a quiet machine shows about 0.
        "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- results


def evaluate_targets(spare: dict, clone: dict, default: dict, migrate: dict) -> list[dict]:
    def target(name: str, value: float, limit: float, op: str) -> dict:
        met = value <= limit if op == "<=" else value >= limit
        return {"name": name, "value": round(value, 2), "target": f"{op} {limit:g}", "met": met}

    return [
        target("our p50, spare in pool (ms)", spare["p50_ms"], TARGET_P50_MS, "<="),
        target("our p50, pool empty: template clone (ms)", clone["p50_ms"], TARGET_P50_MS, "<="),
        target(
            "speed-up, default p50 / spare p50 (x)",
            default["p50_ms"] / spare["p50_ms"],
            TARGET_SPEEDUP,
            ">=",
        ),
        target(
            "speed-up, default p50 / clone p50 (x)",
            default["p50_ms"] / clone["p50_ms"],
            TARGET_SPEEDUP,
            ">=",
        ),
        target(
            "no-op `tenants migrate` CLI, slowest run (s)",
            migrate["cli_wall_seconds_max"],
            TARGET_MIGRATE_SECONDS,
            "<=",
        ),
    ]


def render_markdown(results: dict) -> str:
    r = results["results"]
    m = results["machine"]
    rows = [
        ("Ours: `tenant_create`, spare in pool", r["ours_spare"]),
        ("Ours: `tenant_create`, pool empty (template clone)", r["ours_clone"]),
        ("django-tenants default (`auto_create_schema=True`)", r["django_tenants_default"]),
        ("Ours: `tenant_create`, spare in pool, after the migrate", r["ours_spare_at_t"]),
        ("django-tenants default, after the migrate", r["django_tenants_default_at_t"]),
    ]
    trend = ", ".join(
        f"{block['tenants_before']}: {block['p50_ms']:.0f} ms" for block in r["ours_clone_trend"]
    )
    mig = r["migrate_noop"]
    uncommitted = results["git"]["uncommitted"]
    changes = (
        f", uncommitted: {', '.join(f'`{c.strip()}`' for c in uncommitted[:5])}"
        f"{' …' if len(uncommitted) > 5 else ''}"
        if uncommitted
        else ""
    )
    lines = [
        "# Provisioning benchmark",
        "",
        f"Run {results['started_at']} ({results['duration_seconds']:.0f} s) with "
        f"`{results['command']}`.",
        "",
        "| Tenant creation | tenants before | n | p50 ms | p95 ms | max ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {label} | {s['tenants_before']} | {s['count']} | {s['p50_ms']:.1f} | "
            f"{s['p95_ms']:.1f} | {s['max_ms']:.1f} | {s['mean_ms']:.1f} |"
            for label, s in rows
        ),
        "",
        "Template clone (pool empty) as the database fills, from the untimed provisioning "
        f"(tenants already there: p50 of the next block): {trend or 'none'}.",
        "",
        f"No-op `tenants migrate` over {mig['tenants']} tenants ({mig['schemas_checked']} "
        "schemas with the template):",
        "",
        "| Measurement | runs (s) | slowest s |",
        "|---|---|---:|",
        f"| `python manage.py tenants migrate` (subprocess, wall) | "
        f"{', '.join(f'{s:.2f}' for s in mig['cli_wall_seconds'])} | "
        f"{mig['cli_wall_seconds_max']:.2f} |",
        f"| in-process `migrate_schemas(...)` | "
        f"{', '.join(f'{s:.3f}' for s in mig['in_process_seconds'])} | "
        f"{max(mig['in_process_seconds']):.3f} |",
        "",
        "| Target | value | target | met |",
        "|---|---:|---:|:---:|",
        *(
            f"| {t['name']} | {t['value']:.2f} | {t['target']} | {'yes' if t['met'] else 'NO'} |"
            for t in results["targets"]
        ),
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"{m['postgresql'].split(' on ')[0]} at {m['postgresql_host']}, Redis {m['redis_server']}, "
        f"Python {m['python']}, Django {m['django']}, django-tenants {m['django_tenants']}. "
        f"Git {(results['git']['commit'] or 'unknown')[:12]}{changes}.",
        "",
    ]
    return "\n".join(lines)


def print_summary(results: dict) -> None:
    r = results["results"]
    print()
    for key in (
        "ours_spare",
        "ours_clone",
        "django_tenants_default",
        "ours_spare_at_t",
        "django_tenants_default_at_t",
    ):
        s = r[key]
        print(
            f"{key:<28} n={s['count']:<4} p50 {s['p50_ms']:>8.1f} ms  p95 {s['p95_ms']:>8.1f} ms"
            f"  max {s['max_ms']:>8.1f} ms  mean {s['mean_ms']:>8.1f} ms"
        )
    mig = r["migrate_noop"]
    trend = ", ".join(f"{b['tenants_before']}: {b['p50_ms']:.0f} ms" for b in r["ours_clone_trend"])
    print(f"{'clone p50 by tenants':<28} {trend or '-'}")
    print(
        f"{'migrate no-op':<28} {mig['tenants']} tenants: CLI {mig['cli_wall_seconds']} s, "
        f"in-process {mig['in_process_seconds']} s"
    )
    print()
    for t in results["targets"]:
        print(f"{'met ' if t['met'] else 'MISS'}  {t['name']}: {t['value']:.2f} ({t['target']})")
    print()


# ----------------------------------------------------------------------------- main


def measure(args: argparse.Namespace, redis_client: redis.Redis) -> dict:
    from django.core.management import call_command

    from atrium.tenants.context import public_scope
    from atrium.tenants.naming import schema_name_for
    from atrium.tenants.pool import pool_fill, spare_schemas

    environment = check_preconditions()

    log("Migrating the bench database (public and template)…")
    call_command("tenants", "migrate", stdout=io.StringIO())

    log(f"Filling the spare pool with {args.n + args.warmup} spares (untimed)…")
    with public_scope():
        pool_fill(args.n + args.warmup)
        if len(spare_schemas()) != args.n + args.warmup:
            raise BenchmarkError("The spare pool does not hold the spares just cloned.")
    log(f"Ours, spare in pool: {args.n} timed creations…")
    spare = timed_series(
        "spare", args.n, args.warmup, lambda slug: create_ours(slug, "spare"), "spare"
    )
    with public_scope():
        if spare_schemas():
            raise BenchmarkError("Spares are left after the spare series: the pool was refilled.")

    log(f"Ours, pool empty (template clone): {args.n} timed creations…")
    clone = timed_series(
        "clone", args.n, args.warmup, lambda slug: create_ours(slug, "clone"), "clone"
    )

    log(f"django-tenants default path: {args.m} timed creations…")
    default = timed_series("default", args.m, args.warmup, create_default, "dflt")
    with public_scope():
        verify_tenant_complete(schema_name_for("clone-0000"))
        verify_tenant_complete(schema_name_for("spare-0000"))
        schema_check = compare_schemas(schema_name_for("clone-0000"), schema_name_for("dflt-0000"))

    log(f"Provisioning up to {args.t} tenants for the migrate no-op (untimed)…")
    tenants, clone_trend = provision_up_to(args.t)
    schemas = all_schemas()

    log(f"No-op `tenants migrate` over {tenants} tenants: {args.migrate_runs} CLI runs…")
    cli_runs = [run_cli_migrate(len(schemas)) for _ in range(args.migrate_runs)]
    log(f"… and {args.migrate_runs} in-process migrate_schemas runs…")
    in_process = [run_in_process_migrate(schemas) for _ in range(args.migrate_runs)]
    cli_wall = [run["wall_seconds"] for run in cli_runs]
    migrate = {
        "tenants": tenants,
        "schemas_checked": len(schemas),
        "cli_command": "python manage.py tenants migrate",
        "cli_wall_seconds": cli_wall,
        "cli_wall_seconds_max": max(cli_wall),
        "cli_reported_seconds": [run["reported_seconds"] for run in cli_runs],
        "in_process_seconds": [round(s, 3) for s in in_process],
    }

    log(f"Ours, spare in pool, with {tenants} tenants: {args.n_at_t} timed creations…")
    with public_scope():
        pool_fill(args.n_at_t)
    spare_at_t = timed_series(
        "spare", args.n_at_t, 0, lambda slug: create_ours(slug, "spare"), "spare-at-t"
    )
    log(f"django-tenants default path, with {tenants} tenants: {args.m_at_t} timed creations…")
    default_at_t = timed_series("default", args.m_at_t, 0, create_default, "dflt-at-t")

    results = {
        "ours_spare": spare,
        "ours_clone": clone,
        "django_tenants_default": default,
        "migrate_noop": migrate,
        "ours_spare_at_t": spare_at_t,
        "django_tenants_default_at_t": default_at_t,
        "ours_clone_trend": clone_trend,
    }
    schema_check["tenants_at_end"] = tenant_count()
    return {
        "environment": environment,
        "checks": schema_check,
        "results": results,
        "targets": evaluate_targets(
            results["ours_spare"],
            results["ours_clone"],
            results["django_tenants_default"],
            migrate,
        ),
        "machine": machine_info(redis_client),
    }


def purge_refill_queue() -> int:
    """Drop the pool refills that tenant_create() queued; returns how many there were."""
    from config.celery import app as celery_app

    return celery_app.control.purge()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    refuse_foreign_database(args.database_url)
    configure_environment(args)
    command = shlex.join([".venv/bin/python", "benchmarks/provisioning.py", *sys.argv[1:]])
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]

    redis_client = claim_redis_db(args.redis_url, REDIS_MARKER_KEY)
    log(f"Creating database {database_name(args.database_url)!r}…")
    drop_database(args.database_url, create_again=True)
    django_ready = queue_purged = False
    try:
        django_setup()
        django_ready = True
        measured = measure(args, redis_client)
        # Every tenant_create() queued one refill; none may have been consumed.
        queued = purge_refill_queue()
        queue_purged = True
        expected = measured["checks"]["tenants_at_end"] - (args.m + args.warmup + args.m_at_t)
        if queued != expected:
            raise BenchmarkError(
                f"{queued} pool refills were queued for {expected} tenant_create() calls: "
                "something consumed the bench queue during the run."
            )
        measured["checks"]["pool_refills_queued_unconsumed_then_purged"] = queued
    finally:
        if django_ready:
            from django.db import connections

            if not queue_purged:
                purge_refill_queue()
            connections.close_all()
        if args.keep:
            log(f"Kept database {database_name(args.database_url)!r} and Redis {args.redis_url}.")
        else:
            drop_database(args.database_url)
            redis_client.flushdb()
            log(f"Dropped database {database_name(args.database_url)!r}, flushed {args.redis_url}.")

    results = {
        "benchmark": "provisioning",
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 1),
        "parameters": {
            "n": args.n,
            "m": args.m,
            "t": args.t,
            "warmup": args.warmup,
            "migrate_runs": args.migrate_runs,
            "n_at_t": args.n_at_t,
            "m_at_t": args.m_at_t,
            "database": database_name(args.database_url),
            "redis_url": args.redis_url,
        },
        "git": git_state(),
        **measured,
    }
    results["machine"]["load_average_1_5_15_at_start"] = load_at_start
    write_atomically(args.results_dir / "provisioning.json", json.dumps(results, indent=2) + "\n")
    write_atomically(args.results_dir / "provisioning.md", render_markdown(results))
    print_summary(results)
    log(f"Results in {args.results_dir}/provisioning.json and provisioning.md")
    if args.check and not all(t["met"] for t in results["targets"]):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        print(f"provisioning benchmark: {exc}", file=sys.stderr)
        sys.exit(2)
