#!/usr/bin/env python
"""Scale: thousands of tenants on one machine, and migrations over them.

``tenants``: provisions tenants through ``tenant_create`` (pool empty: template clones), each
with a small catalog (``catalog.services``), up to each of ``--sizes``; at each size it
records provisioning times (wall and CPU, first and last 100), three CLI creations, the
database and catalog size, the latency of an uncached product list on random tenants through
one uvicorn (psycopg pool), the memory of the web process, of a Celery worker after a fan-out
to every tenant, and of one PostgreSQL backend as it serves ``--touch`` different tenants.

``migrate``: over ``--tenants`` tenants, ``tenants migrate`` (the replay) with nothing to do
and with three new migrations (a column + index on ``Product``, a new model with a foreign
key to it, a ``RunPython`` control; ``benchmarks/replay.py``), beside django-tenants'
``migrate_schemas`` (standard and multiprocessing executors), with every schema's catalog
compared; plus a failure in one tenant and the rerun that fixes it. ``--cases`` picks some of
these (a migration left out but needed by a later one is applied untimed); the targets are
the issue's at 10,000 tenants from 10,000 up, its 1,000-tenant ones below. ``--name``
names the results (``scale-migrate`` by default). With ``--traffic``: only
the no-op and the column + index migration, the latter while one server answers reads (product list and detail) on 3
tenants; the answers counted by status (no 500 allowed; 503s counted).

    .venv/bin/python benchmarks/scale.py tenants --sizes 10,1000,10000 --workers 3
    .venv/bin/python benchmarks/scale.py migrate --tenants 1000
    .venv/bin/python benchmarks/scale.py migrate --tenants 10000 --workers 3 --dt-timeout 60 \\
        --cases noop,failure,column_index,new_model --name scale-migrate-10000
    .venv/bin/python benchmarks/scale.py migrate --tenants 10000 --cases noop --keep  # then,
    .venv/bin/python benchmarks/scale.py migrate --tenants 10000 --cases noop --reuse  # quiet
    .venv/bin/python benchmarks/scale.py migrate --tenants 200 --traffic
    .venv/bin/python benchmarks/scale.py tenants --sizes 3,12 --sample 5 --requests 20 \\
        --touch 10 --server-touch 10 --results-dir /tmp/scale                       # smoke
    .venv/bin/python benchmarks/scale.py migrate --tenants 6 --results-dir /tmp/scale  # smoke
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks import replay as replay_bench
from benchmarks.harness import MIGRATE_SUMMARY, REPO_ROOT, BenchmarkError, log, table, target

LIST_PATH = "/api/v1/catalog/products/?page_size=20"  # + bench_nonce: every request a miss
RECYCLE_CONNECTION_EVERY = 200  # tenants provisioned per connection


common = harness.options(__doc__, redis_db=9, add_help=False)
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
sub = parser.add_subparsers(dest="mode", required=True)
tenants = sub.add_parser("tenants", parents=[common], help="provision up to each size")
tenants.add_argument("--sizes", default="10,1000", help="comma-separated tenant counts")
tenants.add_argument("--sample", type=int, default=200, help="tenants the timed lists hit")
tenants.add_argument("--requests", type=int, default=600, help="timed product lists per size")
tenants.add_argument("--touch", type=int, default=1000, help="tenants one backend serves")
tenants.add_argument("--server-touch", type=int, default=1000, help="tenants the server serves")
tenants.add_argument("--fanout-timeout", type=float, default=300)
migrate = sub.add_parser("migrate", parents=[common], help="against migrate_schemas")
migrate.add_argument("--tenants", type=int, default=1000)
migrate.add_argument("--parallel", type=int, default=2, help="`tenants migrate --parallel`")
migrate.add_argument("--dt-timeout", type=float, default=900, help="a longer run is extrapolated")
migrate.add_argument("--traffic", action="store_true", help="column + index under HTTP reads")
CASES = ("noop", "failure", *(kind for kind, *_rest in replay_bench.KINDS))


def cases(value: str) -> list[str]:
    chosen = {case.strip() for case in value.split(",") if case.strip()}
    if unknown := chosen - set(CASES):
        raise argparse.ArgumentTypeError(f"unknown {sorted(unknown)}; among {', '.join(CASES)}")
    return [case for case in CASES if case in chosen]


migrate.add_argument(
    "--cases", default=",".join(CASES), type=cases, help="comma-separated, among these"
)
migrate.add_argument("--name", help="results name (default: scale-migrate[-traffic])")
migrate.add_argument(
    "--reuse",
    action="store_true",
    help="the fleet that a --keep run left (same --tenants): measure without provisioning; "
    "only with --cases noop, which changes nothing",
)
for p in (tenants, migrate):
    name = f"atrium_bench_scale{'_migrate' if p is migrate else ''}"
    url = os.environ.get("ATRIUM_BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1/{name}")
    p.add_argument("--database-url", default=url, help="its name must contain 'bench'")
    p.add_argument("--products", type=int, default=5, help="products per tenant")
    p.add_argument("--seed", type=int, default=7, help="picks the random tenants")
    p.add_argument("--workers", type=int, default=1, help="provisioning threads")


args, run = harness.start(
    parser,
    lambda args: getattr(args, "name", None)
    or f"scale-{args.mode}{'-traffic' if getattr(args, 'traffic', False) else ''}",
    "Scale",
    "benchmarks.settings_scale",
    DB_POOL="0",
    ATRIUM_BASE_DOMAIN="localhost",
    CELERY_RESULT_BACKEND="",
)  # sets Django up
run.title = f"Scale: {args.mode}"

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402

from atrium.apps.catalog import services  # noqa: E402
from atrium.apps.catalog.models import ProductStatus  # noqa: E402
from atrium.platform.accounts.models import Role, User  # noqa: E402
from atrium.tenants.context import public_scope, tenant_scope  # noqa: E402
from atrium.tenants.models import Tenant  # noqa: E402
from atrium.tenants.provisioning import tenant_create  # noqa: E402
from config.celery import app as celery_app  # noqa: E402

# ----------------------------------------------------------------------------- provisioning


def slug_for(index: int) -> str:
    return f"t{index:05d}"


class Fleet:
    """The tenants provisioned so far (slug -> owner password) and their timings."""

    def __init__(self, products: int) -> None:
        self.products = products
        self.passwords: dict[str, str] = {}
        self.create, self.catalog, self.cpu, self.steps = [], [], [], []

    def grow_to(self, total: int, workers: int = 1) -> None:
        """Up to ``total`` tenants, ``workers`` threads at a time, a connection each; a
        backend that made many schemas carries their catalog entries, so each thread starts
        a fresh connection every ``RECYCLE_CONNECTION_EVERY`` tenants."""
        start, results = len(self.passwords), {}

        def work(first: int) -> None:
            try:
                for count, index in enumerate(range(first, total, workers), 1):
                    results[index] = self.provision(index)
                    if count % RECYCLE_CONNECTION_EVERY == 0:
                        connection.close()
            finally:
                connection.close()

        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(start, start + workers)))  # re-raises a failure
        self.steps.append(round(time.perf_counter() - started, 1))
        for index in range(start, total):
            slug, password, create, catalog, cpu = results[index]
            self.passwords[slug] = password
            self.create.append(create)
            self.catalog.append(catalog)
            self.cpu.append(cpu)

    def provision(self, index: int) -> tuple:
        """``tenant_create`` and a catalog: wall times, and the CPU of this thread plus its
        PostgreSQL backend (not inflated by other work on the machine, unlike wall time)."""
        slug = slug_for(index)
        with public_scope():
            connection.ensure_connection()
            backend = connection.connection.info.backend_pid
            cpu = time.thread_time() + (harness.cpu_seconds(backend) or 0.0)
            started = time.perf_counter()
            result = tenant_create(slug=slug, name=slug, owner_email=f"owner@{slug}.test")
            created = time.perf_counter()
            with tenant_scope(result.tenant):
                owner = User.objects.get(role=Role.OWNER)
                categories = [services.category_create(name=n) for n in ("Tools", "Parts")]
                for n in range(1, self.products + 1):
                    item = {"name": f"Item {n}", "sku": f"SKU-{n:03d}", "price": Decimal(n)}
                    category, active = categories[n % 2], ProductStatus.ACTIVE
                    services.product_create(owner=owner, category=category, status=active, **item)
            finished = time.perf_counter()
            cpu = time.thread_time() + (harness.cpu_seconds(backend) or 0.0) - cpu
        return slug, result.owner_password, created - started, finished - created, cpu

    def figures(self, upto: int) -> dict:
        both = [a + b for a, b in zip(self.create[:upto], self.catalog[:upto], strict=True)]
        figures = {
            "tenant_create": harness.summary_ms(self.create[:upto]),
            "catalog": harness.summary_ms(self.catalog[:upto]),
            "wall_seconds_of_each_step": self.steps,
        }
        if upto >= 200:
            cpu = self.cpu[:upto]
            figures["last_over_first_100"] = round(sum(both[-100:]) / sum(both[:100]), 3)
            figures["cpu_last_over_first_100"] = round(sum(cpu[-100:]) / sum(cpu[:100]), 3)
        return figures


def sql(statement: str, *params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def database_figures() -> dict:
    ((size, classes, attributes),) = sql(
        "SELECT pg_database_size(current_database()), (SELECT count(*) FROM pg_class), "
        "(SELECT count(*) FROM pg_attribute)"
    )
    mib = round(size / 1024**2, 1)
    return {"database_mib": mib, "pg_class_rows": classes, "pg_attribute_rows": attributes}


# ----------------------------------------------------------------------------- at each size


def cli_creations(count: int, offset: int) -> list[float]:
    """Creations through the real CLI: wall time, Python's and Django's start-up included."""
    seconds = []
    for n in range(count):
        slug = f"cli{offset:05d}x{n}"
        create = ("tenants", "create", slug, "--name", slug, "--owner-email", f"o@{slug}.test")
        seconds.append(round(harness.manage(*create).seconds, 2))
    return seconds


def product_list(server, slug: str, token: str, nonce: str, products: int) -> float:
    started = time.perf_counter()
    response = server.get(f"{slug}.localhost", f"{LIST_PATH}&bench_nonce={nonce}", token=token)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.headers.get("X-Cache") != "miss":
        raise BenchmarkError(f"list on {slug}: {response.status_code} {response.text[:200]}")
    if response.json()["count"] != products:
        raise BenchmarkError(f"list on {slug}: not the {products} products seeded")
    return elapsed


def measure_http(args, fleet: Fleet, size: int, rng: random.Random) -> dict:
    """Timed lists on ``--sample`` tenants, then first lists on ``--server-touch`` others,
    through one uvicorn with the psycopg pool; its pooled backends' memory afterwards."""
    slugs = sorted(fleet.passwords)
    sample = rng.sample(slugs, min(args.sample, len(slugs)))
    with harness.server({"DB_POOL": "1"}) as server:
        tokens = {
            s: server.login(f"{s}.localhost", f"owner@{s}.test", fleet.passwords[s]) for s in sample
        }
        for slug in sample:  # untimed: the timed lists hit tenants the process has seen
            product_list(server, slug, tokens[slug], f"w{size}-{slug}", fleet.products)
        timings = []
        for n in range(args.requests):
            slug = rng.choice(sample)
            timings.append(product_list(server, slug, tokens[slug], f"{size}-{n}", fleet.products))
        first = []
        for slug in rng.sample(slugs, min(args.server_touch, len(slugs))):
            token = tokens.get(slug) or server.login(
                f"{slug}.localhost", f"owner@{slug}.test", fleet.passwords[slug]
            )
            first.append(product_list(server, slug, token, f"t{size}-{slug}", fleet.products))
        backends = sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return {
            "product_list": harness.summary_ms(timings),
            "first_list_per_tenant": harness.summary_ms(first),
            "web_rss_mib": round(harness.memory_kib(server.pid) / 1024, 1),
            "server_backends_pss_mib": [
                round((harness.memory_kib(pid, "Pss") or 0) / 1024, 1) for (pid,) in backends
            ],
        }


def backend_memory() -> dict:
    """This connection's backend: all its memory contexts, the catalog cache, RSS and PSS."""
    ((total, cache, pid),) = sql(
        "SELECT sum(total_bytes), sum(total_bytes) FILTER (WHERE 'CacheMemoryContext' IN "
        "(name, parent)), pg_backend_pid() FROM pg_backend_memory_contexts"
    )
    memory = {"all_kib": round(total / 1024), "cache_kib": round((cache or 0) / 1024)}
    return {**memory, "rss_kib": harness.memory_kib(pid), "pss_kib": harness.memory_kib(pid, "Pss")}


def measure_backend_growth(fleet: Fleet, touch: int, rng: random.Random) -> dict:
    """One connection (Django's test client keeps it, as a pooled one is kept) serves a login
    and a list on ``touch`` different tenants: its backend's memory along the way."""
    slugs = rng.sample(sorted(fleet.passwords), min(touch, len(fleet.passwords)))
    client, curve = Client(), []
    connection.close()
    for n, slug in enumerate(slugs):
        if n in (0, 10, 100, 1000):
            curve.append([n, backend_memory()])
        host, credentials = f"{slug}.localhost", {"email": f"owner@{slug}.test"}
        credentials["password"] = fleet.passwords[slug]
        login = client.post("/api/v1/auth/token/", credentials, "application/json", HTTP_HOST=host)
        token = f"Bearer {login.json()['access']}"
        listing = client.get(
            f"{LIST_PATH}&bench_nonce=m{n}", HTTP_HOST=host, HTTP_AUTHORIZATION=token
        )
        if listing.status_code != 200:
            raise BenchmarkError(f"in-process list on {slug}: {listing.status_code}")
    curve.append([len(slugs), backend_memory()])
    connection.close()
    growth = (curve[-1][1]["cache_kib"] - curve[0][1]["cache_kib"]) / max(1, len(slugs))
    return {"curve": curve, "cache_kib_per_tenant": round(growth, 1)}


def measure_worker(args, size: int, redis_client) -> dict:
    """A Celery worker (prefork, 2 processes) runs one fan-out to every active tenant."""
    celery_app.control.purge()  # the refills tenant_create() queued are not this test's
    with harness.worker() as worker:
        idle = sum(harness.memory_kib(pid) or 0 for pid in worker.pids())
        started = time.perf_counter()
        celery_app.send_task("platform.run_for_active_tenants", args=["catalog.recompute_stats"])
        deadline, finished = time.monotonic() + args.fanout_timeout, False
        while not finished and time.monotonic() < deadline:
            time.sleep(0.5)
            active = celery_app.control.inspect(timeout=1).active() or {}
            finished = redis_client.llen("celery") == 0 and not any(active.values())
        after = sum(harness.memory_kib(pid) or 0 for pid in worker.pids())
    celery_app.control.purge()
    return {
        "fanout_seconds": round(time.perf_counter() - started, 1),
        "finished": finished,
        "rss_mib_idle": round(idle / 1024),
        "rss_mib_after": round(after / 1024),
    }


def run_tenants(args, run, redis_client) -> int:
    rng, fleet, sizes = random.Random(args.seed), Fleet(args.products), []
    call_command("tenants", "migrate", stdout=io.StringIO())
    for size in sorted({int(s) for s in args.sizes.split(",")}):
        log(f"provisioning up to {size} tenants")
        with public_scope():
            fleet.grow_to(size, args.workers)
        sizes.append(
            {
                "tenants": size,
                "provisioning": fleet.figures(size),
                "cli_create_seconds": cli_creations(3, size),
                "database": database_figures(),
                "http": measure_http(args, fleet, size, rng),
                "backend_memory": measure_backend_growth(fleet, args.touch, rng),
                "worker": measure_worker(args, size, redis_client),
                "load_average": round(os.getloadavg()[0], 2),
            }
        )

    def ms(summary: dict, *quantiles: int) -> str:
        return " / ".join(f"{summary[f'p{q}_ms']:.1f}" for q in quantiles)

    rows = []
    for s in sizes:
        p, h, w = s["provisioning"], s["http"], s["worker"]
        rows.append(
            [
                s["tenants"],
                ms(p["tenant_create"], 50, 99),
                ms(p["catalog"], 50),
                f"{p['wall_seconds_of_each_step'][len(rows)]:.0f} s",
                f"{s['database']['database_mib'] / 1024:.2f} GiB",
                s["database"]["pg_class_rows"],
                ms(h["product_list"], 50, 95, 99),
                ms(h["first_list_per_tenant"], 50, 99),
                h["web_rss_mib"],
                f"{w['rss_mib_idle']} → {w['rss_mib_after']}, {w['fanout_seconds']} s",
                s["load_average"],
            ]
        )
    first, last = sizes[0], sizes[-1]
    targets = []
    if last is not first:
        ratio = last["http"]["product_list"]["p50_ms"] / first["http"]["product_list"]["p50_ms"]
        targets.append(
            target(f"list p50 at {last['tenants']} / at {first['tenants']}", ratio, "<=", 1.2)
        )
    if "last_over_first_100" in last["provisioning"]:
        targets.append(
            target(
                f"provisioning, last 100 / first 100 of {last['tenants']}",
                last["provisioning"]["last_over_first_100"],
                "<=",
                1.5,
            )
        )
    curves = "; ".join(
        f"at {s['tenants']}: "
        + ", ".join(f"{n}: {m['cache_kib'] / 1024:.1f}" for n, m in s["backend_memory"]["curve"])
        for s in sizes
    )
    return run.finish(
        summary={"sizes": sizes},
        notes=[
            "Three creations through the CLI (`manage.py tenants create`, wall with Python's "
            "start-up): "
            + "; ".join(f"{s['tenants']}: {s['cli_create_seconds']} s" for s in sizes)
            + ". Provisioning, last 100 / first 100 (wall, CPU of the process and its backend): "
            + "; ".join(
                f"{s['tenants']}: {s['provisioning'].get('last_over_first_100', '-')}, "
                f"{s['provisioning'].get('cpu_last_over_first_100', '-')}"
                for s in sizes
            )
            + ". Backend catalog cache per tenant served (KiB): "
            + "; ".join(
                f"{s['tenants']}: {s['backend_memory']['cache_kib_per_tenant']}" for s in sizes
            )
            + ".",
            f"`CacheMemoryContext` (MiB) of one connection after serving n tenants: {curves}. "
            "The server's pooled backends (PSS MiB) after its first lists: "
            + "; ".join(f"{s['tenants']}: {s['http']['server_backends_pss_mib']}" for s in sizes)
            + ".",
        ],
        tables=[
            table(
                "",
                (
                    "tenants | `tenant_create` p50 / p99 ms | catalog p50 ms"
                    f" | provisioning wall since the previous size ({args.workers} threads)"
                    " | DB size | `pg_class` rows"
                    " | list p50 / p95 / p99 ms | first list of a tenant p50 / p99 ms"
                    " | web RSS MiB | worker RSS MiB, fan-out | load avg (1 min)"
                ),
                rows,
            )
        ],
        targets=targets,
    )


# ----------------------------------------------------------------------------- migrate

DJANGO_TENANTS_MIGRATE = (  # manage.py's migrate_schemas is Atrium's refusal: run theirs
    "import django; django.setup(); "
    "from django_tenants.management.commands.migrate_schemas import Command; "
    "import sys; Command().run_from_argv(['manage.py', *sys.argv[1:]])"
)


def ours(label: str, env: dict, *extra: str) -> dict:
    done = harness.manage("tenants", "migrate", *extra, check=False, env=env)
    found = MIGRATE_SUMMARY.search(done.stdout)
    if found is None:
        raise BenchmarkError(f"{label}: no summary ({done.returncode}): {done.stdout}{done.stderr}")
    log(f"{label}: {done.seconds:.1f} s, {found[0]}")
    return {
        "command": shlex.join(["manage.py", "tenants", "migrate", *extra]),
        "exit_code": done.returncode,
        "seconds": round(done.seconds, 2),
        "replay_seconds": float(found["seconds"]),  # as the command reports, without start-up
        "migrated": int(found["migrated"]),
        "failed": int(found["failed"]),
        "failures": [line for line in done.stderr.splitlines() if line.startswith("failed: ")],
        "fallbacks": [line for line in done.stdout.splitlines() if line.startswith("Django's")],
    }


def django_tenants(label: str, executor: str, env: dict, timeout: float, tenants: int) -> dict:
    """``migrate_schemas --executor``; a run cut at ``timeout`` is extrapolated, and says so."""
    command = [
        sys.executable,
        "-c",
        DJANGO_TENANTS_MIGRATE,
        "migrate_schemas",
        "--executor",
        executor,
        "--noinput",
    ]
    started = time.perf_counter()
    env = {**os.environ, **env}
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        text, cut = proc.communicate(timeout=timeout)[0], False
    except subprocess.TimeoutExpired:
        proc.kill()
        text, cut = proc.communicate()[0], True
    seconds = time.perf_counter() - started
    if proc.returncode and not cut:
        raise BenchmarkError(f"{label} failed: {text[-3000:]}")
    started_schemas = max(0, text.count("=== Starting migration") - 1)  # public first
    if cut:
        seconds = seconds / max(started_schemas, 1) * tenants
    log(f"{label}: {seconds:.1f} s{' (extrapolated)' if cut else ''}")
    return {
        "command": f"migrate_schemas --executor {executor}",
        "seconds": round(seconds, 2),
        "extrapolated": cut,
    }


def run_migrate(args, run) -> int:
    """The replay (``tenants migrate``) against django-tenants on three migrations: see
    ``benchmarks/replay.py``."""
    fleet = Fleet(args.products)
    if args.reuse:
        if args.cases != ["noop"] or args.traffic:
            raise harness.BenchmarkError("--reuse measures the no-op only: --cases noop")
        with public_scope():
            if (found := Tenant.objects.count()) != args.tenants:
                raise harness.BenchmarkError(f"--reuse: {found} tenants kept, not {args.tenants}")
    else:
        call_command("tenants", "migrate", stdout=io.StringIO())
        with public_scope():
            fleet.grow_to(args.tenants, args.workers)
    connections.close_all()
    packages = replay_bench.write_packages(run.workdir)
    plain = {"PYTHONPATH": str(REPO_ROOT)}
    mp = {"TENANT_MULTIPROCESSING_MAX_PROCESSES": str(args.parallel)}
    parallel = ("--parallel", str(args.parallel))
    dt = partial(django_tenants, timeout=args.dt_timeout, tenants=args.tenants)

    def env(index: int) -> dict:
        return {
            "PYTHONPATH": f"{run.workdir}{os.pathsep}{REPO_ROOT}",
            "ATRIUM_BENCH_CATALOG_MIGRATIONS": packages[index],
        }

    if args.traffic:
        noop = ours("no-op", plain, *parallel)
        return run_traffic(
            args, run, fleet, noop, lambda: ours("column + index", env(0), *parallel)
        )
    r, equivalence, chosen = {}, {}, args.cases
    if "noop" in chosen:
        r["ours_noop"] = ours("no-op", plain, *parallel)
        r["dt_noop_standard"] = dt("dt no-op, standard", "standard", plain)
        r["dt_noop_multiprocessing"] = dt(
            "dt no-op, multiprocessing", "multiprocessing", {**plain, **mp}
        )
    failure_handled = None
    if "failure" in chosen:  # one tenant made to fail (the column exists already); the rerun
        broken = slug_for(args.tenants // 2)
        sql(f'ALTER TABLE "{broken}".catalog_product ADD COLUMN bench_note varchar(40)')
        r["ours_failing"] = ours("column, one tenant failing", env(0), *parallel)
        sql(f'ALTER TABLE "{broken}".catalog_product DROP COLUMN bench_note')
        r["ours_rerun"] = ours("rerun after the fix", env(0), *parallel)
        failure_handled = (
            r["ours_failing"]["exit_code"] == 1
            and r["ours_failing"]["failed"] == 1
            and r["ours_rerun"]["migrated"] == 1
            and not r["ours_rerun"]["exit_code"]
        )
        replay_bench.undo(*replay_bench.KINDS[0][:2])
    last = max((i for i, k in enumerate(replay_bench.KINDS) if k[0] in chosen), default=-1)
    for index, (kind, name, label, _body) in enumerate(replay_bench.KINDS[: last + 1]):
        if kind not in chosen:  # a later kind builds on it
            ours(f"{label} (needed by a later one, untimed)", env(index), *parallel)
            continue
        r[f"ours_{kind}"] = ours(label, env(index), *parallel)
        # The template is compared with nothing: tenants are clones of it, and a clone's
        # copied indexes carry PostgreSQL's names, not Django's (tenants/template.py).
        tenants = replay_bench.tenant_schemas()[1:]
        after_replay = replay_bench.fingerprints(tenants)
        reference = next(iter(after_replay.values()))
        for executor, extra in (("standard", {}), ("multiprocessing", mp)):
            replay_bench.undo(kind, name)
            r[f"dt_{kind}_{executor}"] = dt(
                f"dt {label}, {executor}", executor, {**env(index), **extra}
            )
        after_dt = replay_bench.fingerprints(tenants)
        equivalence[kind] = {
            "distinct_after_replay": len(set(after_replay.values())),
            "dt_migrated_identical": sum(1 for p in after_dt.values() if p == reference),
        }
        replay_bench.undo(kind, name)
        if index < last:  # the next kind starts from this one
            ours(f"{label} (re-applied, untimed)", env(index), *parallel)
    for kind, name, _label, _body in reversed(replay_bench.KINDS[:last]):
        replay_bench.undo(kind, name)

    def row(case: str, key: str) -> list:
        mine = r[f"ours_{key}"]
        cells = [case, mine["seconds"], mine["replay_seconds"]]
        for executor in ("standard", "multiprocessing"):
            theirs = r[f"dt_{key}_{executor}"]
            cells += [
                f"{theirs['seconds']}{' (extrapolated)' if theirs['extrapolated'] else ''}",
                f"{theirs['seconds'] / mine['seconds']:.1f}x",
            ]
        return cells

    notes = [f"{args.tenants} tenants, `--parallel {args.parallel}`, cases: {', '.join(chosen)}."]
    if "failure" in chosen:
        notes.append(
            "With one tenant failing: "
            f"`{(r['ours_failing']['failures'] or ['no failure reported'])[0][:160]}`, exit "
            f"{r['ours_failing']['exit_code']}; the rerun migrated {r['ours_rerun']['migrated']}."
        )
    if "runpython" in chosen:
        notes.append("Fallbacks: " + "; ".join(r["ours_runpython"]["fallbacks"] or ["none"]))
    rows = [row("no-op", "noop")] if "noop" in chosen else []
    rows += [row(label, kind) for kind, _n, label, _b in replay_bench.KINDS if kind in chosen]
    tables = [
        table(
            "",
            "case | ours s | ours, as reported s | dt standard s | dt / ours"
            " | dt multiprocessing s | dt / ours",
            rows,
        )
    ]
    if equivalence:
        tables.append(
            table(
                "Equivalence (catalog of every tenant schema, schema name removed)",
                "migration | distinct catalogs after the replay | dt-migrated schemas identical",
                [
                    [k, e["distinct_after_replay"], e["dt_migrated_identical"]]
                    for k, e in equivalence.items()
                ],
            )
        )
    return run.finish(
        summary={"runs": r, "equivalence": equivalence, "database": database_figures()},
        notes=notes,
        tables=tables,
        targets=migrate_targets(args.tenants, r, equivalence, failure_handled),
    )


def migrate_targets(tenants: int, r: dict, equivalence: dict, failure_handled) -> list:
    """Issue 16's targets for the cases run: its 10,000-tenant ones (new column <= 5 min,
    no-op <= 10 s) from 10,000 tenants up, its 1,000-tenant ones (column + index and new
    model <= 30 s) below; everywhere >= 10 times django-tenants on the column, and no schema
    differing.
    Ours is the wall time of ``manage.py tenants migrate``, Python's start-up included."""
    large, targets = tenants >= 10_000, []
    if large and "ours_noop" in r:
        targets.append(target(f"no-op, {tenants} tenants (s)", r["ours_noop"]["seconds"], "<=", 10))
    if "ours_column_index" in r:
        column = r["ours_column_index"]["seconds"]
        theirs = min(r[f"dt_column_index_{e}"]["seconds"] for e in ("standard", "multiprocessing"))
        bound = 300 if large else 30
        targets.append(target(f"new column + index, {tenants} tenants (s)", column, "<=", bound))
        targets.append(
            target("new column + index: django-tenants / ours", theirs / column, ">=", 10)
        )
    if "ours_new_model" in r and not large:
        model = r["ours_new_model"]["seconds"]
        targets.append(target(f"new model, {tenants} tenants (s)", model, "<=", 30))
    if equivalence:
        differing = sum(e["distinct_after_replay"] - 1 for e in equivalence.values())
        targets.append(target("schemas whose catalog differs after the replay", differing, "==", 0))
    if failure_handled is not None:
        targets.append(
            target(
                "one failing tenant reported, the others migrated, rerun fixes it",
                failure_handled,
                "==",
                True,
            )
        )
    return targets


def run_traffic(args, run, fleet: Fleet, noop: dict, migrate) -> int:
    """Reads on the first, middle and last tenant (one thread each, uncached lists alternating
    with details) from 2 s before ``migrate()`` to 2 s after: answers counted by status."""
    run.title = "Scale: a migration under traffic"
    slugs = [slug_for(i) for i in sorted({0, args.tenants // 2, args.tenants - 1})]
    migrating, stop = threading.Event(), threading.Event()

    def reads(server, slug: str) -> Counter:
        host, counts, n = f"{slug}.localhost", Counter(), 0
        token = server.login(host, f"owner@{slug}.test", fleet.passwords[slug])
        ids = [p["id"] for p in server.get(host, LIST_PATH, token=token).json()["results"]]
        while not stop.is_set():
            n += 1
            detail = f"/api/v1/catalog/products/{ids[n % len(ids)]}/"
            path = f"{LIST_PATH}&bench_nonce=m{n}" if n % 2 else detail
            phase = "during" if migrating.is_set() else "around"
            response = server.get(host, path, token=token)
            json = "json" in response.headers.get("Content-Type", "")
            code = (
                response.json()["errors"][0]["code"] if response.status_code >= 500 and json else ""
            )
            counts[(phase, f"{response.status_code} {code}".strip())] += 1
        return counts

    with harness.server({"DB_POOL": "1"}) as server, ThreadPoolExecutor(len(slugs)) as pool:
        running = [pool.submit(reads, server, slug) for slug in slugs]
        time.sleep(2)
        migrating.set()
        migration = migrate()
        migrating.clear()
        time.sleep(2)
        stop.set()
        counts = sum((f.result() for f in running), Counter())
    replay_bench.undo(*replay_bench.KINDS[0][:2])
    by_status = {f"{phase} {status}": n for (phase, status), n in sorted(counts.items())}
    errors = sum(n for (_p, status), n in counts.items() if status.startswith("500"))
    during = sum(n for (phase, _s), n in counts.items() if phase == "during")
    return run.finish(
        summary={"noop": noop, "migration": migration, "answers": by_status, "tenants_read": slugs},
        notes=[
            f"{args.tenants} tenants, `--parallel {args.parallel}`; reads on {slugs}. No-op (no "
            f"traffic) {noop['replay_seconds']} s ({noop['seconds']} s wall, start-up included); "
            f"column + index {migration['replay_seconds']} s ({migration['seconds']} s wall).",
        ],
        tables=[table("Answers by status", "phase and status | answers", list(by_status.items()))],
        targets=[
            target(
                f"migration ({migration['migrated']} schemas) exit code",
                migration["exit_code"],
                "==",
                0,
            ),
            target("answers during the migration", during, ">=", 1),
            target("500 answers", errors, "==", 0),
        ],
    )


def main() -> int:
    try:
        if args.mode == "tenants":
            return run_tenants(args, run, run.claimed[0])
        return run_migrate(args, run)
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
