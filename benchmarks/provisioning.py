#!/usr/bin/env python
"""Provisioning: ``tenant_create`` (spare in pool; pool empty, so a template clone) against
django-tenants' default path (``auto_create_schema``: ``CREATE SCHEMA`` and every migration),
and a no-op ``tenants migrate`` over ``--t`` tenants.

Creations are timed one at a time from this process (``time.perf_counter()`` around the whole
call). Both paths create the owner with the same fast hasher, and the benchmark checks that a
cloned schema and a django-tenants one hold the same tables with the same row counts. The pool
refill that ``tenant_create`` queues goes to the bench Redis DB, where no worker listens: it
is purged at the end, and the count purged must equal the creations (none ran in a timed call).

    .venv/bin/python benchmarks/provisioning.py                  # full run (also: make bench)
    .venv/bin/python benchmarks/provisioning.py --n 5 --m 2 --t 20 --results-dir /tmp/bench
"""

from __future__ import annotations

import io
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import MIGRATE_SUMMARY, BenchmarkError, log, table, target

parser = harness.options(__doc__, database="atrium_bench", redis_db=9)
parser.add_argument("--n", type=int, default=50, help="timed creations per path of ours")
parser.add_argument("--m", type=int, default=10, help="timed django-tenants creations")
parser.add_argument("--t", type=int, default=500, help="tenants for the no-op migrate")
parser.add_argument("--warmup", type=int, default=1, help="untimed creations per series")
parser.add_argument("--migrate-runs", type=int, default=3)
parser.add_argument("--n-at-t", type=int, default=10, help="spare creations at T tenants")
parser.add_argument("--m-at-t", type=int, default=5, help="django-tenants creations at T")
args, run = harness.start(parser, "provisioning", "Provisioning")  # sets Django up

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command, get_commands  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import get_creation_fakes_migrations, tenant_context  # noqa: E402

from atrium.tenants import naming, pool, provisioning  # noqa: E402
from atrium.tenants.context import public_scope, schema_scope  # noqa: E402
from atrium.tenants.migrator import migrate_schemas, quote_ident, schemas_behind  # noqa: E402
from atrium.tenants.models import Domain, Tenant, TenantStatus  # noqa: E402
from config.celery import app as celery_app  # noqa: E402


def check_preconditions() -> None:
    """django-tenants' path must be its standard one; no refill may run in a timed call."""
    if celery_app.conf.task_always_eager:
        raise BenchmarkError("CELERY_TASK_ALWAYS_EAGER is on: refills would run in the timed calls")
    if get_creation_fakes_migrations() or getattr(settings, "TENANT_BASE_SCHEMA", None):
        raise BenchmarkError("django-tenants' default path would clone instead of migrating")
    if getattr(settings, "TENANT_MIGRATION_EXECUTOR", "standard") != "standard":
        raise BenchmarkError("TENANT_MIGRATION_EXECUTOR is not django-tenants' standard one")
    # `migrate_schemas` is Atrium's refusal (atrium/tenants/management/refusal.py); the default
    # path's save() calls it by name, so in this process the name goes to django-tenants' own.
    get_commands()["migrate_schemas"] = "django_tenants"


def create_ours(slug: str, source: str) -> float:
    started = time.perf_counter()
    result = provisioning.tenant_create(slug=slug, name=slug, owner_email=f"owner@{slug}.test")
    elapsed = time.perf_counter() - started
    if result.schema_source != source:
        raise BenchmarkError(f"{slug}: a schema from a {result.schema_source}, not a {source}")
    return elapsed


def create_default(slug: str) -> float:
    """django-tenants' path: ``save()`` creates the schema and runs every tenant migration;
    then the domain and the owner, as ``tenant_create`` does (no outer transaction, as in
    django-tenants' ``create_tenant``)."""
    started = time.perf_counter()
    with public_scope():
        tenant = Tenant(
            slug=slug,
            name=f"Bench {slug}",
            schema_name=naming.schema_name_for(slug),
            status=TenantStatus.ACTIVE,
        )
        tenant.auto_create_schema = True  # the model says False: Atrium provisions itself
        tenant.save(verbosity=0)
        Domain(domain=f"{slug}.{settings.ATRIUM_BASE_DOMAIN}", tenant=tenant).save()
        with tenant_context(tenant):
            # The one user-manager method tenant_create uses (a generated one-time password
            # with the fast hasher).
            get_user_model().objects.create_with_role(f"owner@{slug}.test", role="owner")
    elapsed = time.perf_counter() - started
    check_complete(tenant.schema_name)
    return elapsed


def check_complete(schema: str) -> dict[str, int]:
    """Every tenant migration recorded, one owner; the schema's rows per table."""
    if schemas_behind([schema]):
        raise BenchmarkError(f"{schema} misses tenant migrations after creation")
    with schema_scope(schema):
        if get_user_model().objects.filter(role="owner").count() != 1:
            raise BenchmarkError(f"{schema} has no owner after creation")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        )
        counts = {}
        for (name,) in sorted(cursor.fetchall()):
            cursor.execute(f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(name)}")
            counts[name] = cursor.fetchone()[0]
    return counts


def tenant_count() -> int:
    with public_scope():
        return Tenant.objects.count()


SERIES = {
    "spare": "Ours: `tenant_create`, spare in pool",
    "clone": "Ours: `tenant_create`, pool empty (template clone)",
    "dflt": "django-tenants default (`auto_create_schema=True`)",
    "spare-t": "Ours: spare in pool, after the migrate",
    "dflt-t": "django-tenants default, after the migrate",
}


def series(prefix: str, count: int, warmup: int, create) -> dict:
    """``warmup`` untimed creations, then ``count`` timed ones: their summary."""
    for index in range(warmup):
        create(f"{prefix}-warm-{index}")
    before = tenant_count()
    samples = [create(f"{prefix}-{index:04d}") for index in range(count)]
    log(f"{SERIES[prefix]}: {count} creations, last {samples[-1] * 1000:.1f} ms")
    return {"label": SERIES[prefix], "tenants_before": before, **harness.summary_ms(samples)}


def fill_up_to(total: int, block: int = 50) -> list[dict]:
    """Template clones (untimed for the targets) up to ``total`` tenants; p50 per block."""
    trend, durations, existing = [], [], tenant_count()
    for index in range(max(0, total - existing)):
        slug = f"fill-{index:05d}"
        durations.append(
            provisioning.tenant_create(slug=slug, name=slug, owner_email=f"o@{slug}.test").seconds
        )
        if len(durations) == block or existing + index + 1 == total:
            trend.append(
                [existing + index + 1 - len(durations), harness.summary_ms(durations)["p50_ms"]]
            )
            log(f"filled {existing + index + 1}/{total}")
            durations = []
    return trend


def migrate_noop(runs: int) -> dict:
    with public_scope():
        schemas = [
            settings.ATRIUM_TEMPLATE_SCHEMA,
            *pool.spare_schemas(),
            *Tenant.objects.values_list("schema_name", flat=True),
        ]
    cli, in_process = [], []
    for _ in range(runs):
        done = harness.manage("tenants", "migrate")
        found = MIGRATE_SUMMARY.search(done.stdout)
        if not found or int(found["migrated"]) or int(found["failed"]):
            raise BenchmarkError(f"`tenants migrate` had work to do: {done.stdout[-500:]}")
        cli.append(round(done.seconds, 3))
        started = time.perf_counter()
        with public_scope():
            report = migrate_schemas(schemas)
        if report.migrated or report.failed:
            raise BenchmarkError(f"migrate_schemas had work to do: {report}")
        in_process.append(round(time.perf_counter() - started, 3))
    return {"schemas": len(schemas), "cli_seconds": cli, "in_process_seconds": in_process}


def main() -> int:
    try:
        check_preconditions()
        call_command("tenants", "migrate", stdout=io.StringIO())
        spare, clone = partial(create_ours, source="spare"), partial(create_ours, source="clone")
        with public_scope():
            pool.pool_fill(args.n + args.warmup)
        cases = [
            series("spare", args.n, args.warmup, spare),
            series("clone", args.n, args.warmup, clone),
            series("dflt", args.m, args.warmup, create_default),
        ]
        with public_scope():
            ours, theirs = (naming.schema_name_for(s) for s in ("clone-0000", "dflt-0000"))
            if check_complete(ours) != check_complete(theirs):
                raise BenchmarkError("the two paths build different schemas")
        trend = fill_up_to(args.t)
        migrate = migrate_noop(args.migrate_runs)
        with public_scope():
            pool.pool_fill(args.n_at_t)
        cases += [
            series("spare-t", args.n_at_t, 0, spare),
            series("dflt-t", args.m_at_t, 0, create_default),
        ]
        ours_calls = tenant_count() - (args.m + args.warmup + args.m_at_t)
        purged = celery_app.control.purge()
        if purged != ours_calls:
            raise BenchmarkError(f"{purged} refills queued for {ours_calls} creations: one ran")
    finally:
        run.close()

    spare, clone, default = (case["p50_ms"] for case in cases[:3])
    columns = ("label", "tenants_before", "n", "p50_ms", "p95_ms", "max_ms", "mean_ms")
    return run.finish(
        summary={"cases": cases, "clone_trend": trend, "migrate_noop": migrate},
        notes=[
            "Template clone as the database fills (tenants before the block: p50 ms of its up "
            f"to 50 clones): {', '.join(f'{n}: {p:.0f}' for n, p in trend) or 'none'}.",
            f"No-op `tenants migrate` over {args.t} tenants ({migrate['schemas']} schemas): CLI "
            f"(subprocess, wall) {', '.join(map(str, migrate['cli_seconds']))} s; in-process "
            f"`migrate_schemas` {', '.join(map(str, migrate['in_process_seconds']))} s.",
        ],
        tables=[
            table(
                "",
                "Tenant creation | tenants before | n | p50 ms | p95 ms | max ms | mean ms",
                [[case[key] for key in columns] for case in cases],
            )
        ],
        targets=[
            target("our p50, spare in pool (ms)", spare, "<=", 100),
            target("our p50, pool empty: template clone (ms)", clone, "<=", 100),
            target("default p50 / spare p50 (x)", default / spare, ">=", 10),
            target("default p50 / clone p50 (x)", default / clone, ">=", 10),
            target(
                "no-op `tenants migrate` CLI, slowest (s)", max(migrate["cli_seconds"]), "<=", 60
            ),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
