#!/usr/bin/env python
"""Scale benchmark: thousands of tenants on one machine, and migrations over them.

Two commands, each on a database of its own (dropped and re-created; its name must
contain ``bench``) and a Redis DB of its own:

``tenants``: provisions tenants through the service the CLI calls
(``atrium.tenants.provisioning.tenant_create``, pool empty: template clones), each with a
small catalog (``catalog.services``), up to each size of ``--sizes``; at each size it
records provisioning p50/p99 and rate, the database size, the latency of an authenticated
product list on random tenants through a real server (uvicorn, psycopg pool), the memory
of the web process and of a Celery worker after a fan-out to every tenant, and the memory of
a PostgreSQL backend after requests touched ``--touch`` different tenants.

``migrate``: over ``--tenants`` tenants, ``tenants migrate`` (the replay) with nothing to do
and with three new migrations (a column + index on ``Product``, a new model with a foreign
key to it, a ``RunPython`` control), side by side with django-tenants' ``migrate_schemas``
(standard and multiprocessing executors) on the same tenants (``benchmarks/replay.py``).

Results: benchmarks/results/scale-tenants.{json,md} and scale-migrate.{json,md}.

    .venv/bin/python benchmarks/scale.py tenants --sizes 10,1000
    .venv/bin/python benchmarks/scale.py tenants --sizes 10,1000,10000
    .venv/bin/python benchmarks/scale.py migrate --tenants 1000
    .venv/bin/python benchmarks/scale.py tenants --sizes 3,12 --results-dir /tmp/scale  # smoke
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import replay as replay_bench  # noqa: E402 (the root must be importable first)
from benchmarks.common import (  # noqa: E402 (the repository root must be importable first)
    RESULTS_DIR,
    BenchmarkError,
    children_of,
    claim_redis_db,
    cpu_seconds,
    database_name,
    drop_database,
    free_port,
    git_state,
    log,
    machine_basics,
    percentile,
    proc_status_kib,
    pss_kib,
    refuse_foreign_database,
    summarize_ms,
    write_atomically,
)

SETTINGS_MODULE = "benchmarks.settings_scale"
REDIS_MARKER_KEY = "atrium-bench:scale"
BASE_DOMAIN = "localhost"
OWNER_PASSWORD_FIELD = "owner_password"
LIST_PATH = "/api/v1/catalog/products/?page_size=20"
NONCE_PARAM = "bench_nonce"  # read by nothing in the view: every request misses the cache

RECYCLE_CONNECTION_EVERY = 200  # tenants provisioned per connection
TARGET_LATENCY_RATIO = 1.2
TARGET_PROVISIONING_DEGRADATION = 1.5


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, database: str) -> None:
        p.add_argument(
            "--database-url",
            default=os.environ.get("ATRIUM_BENCH_DATABASE_URL", database),
            help="Bench database (created and dropped; its name must contain 'bench').",
        )
        p.add_argument(
            "--redis-url",
            default=os.environ.get("ATRIUM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
            help="Redis DB of the benchmark's own: cache, routing, channel layer, broker.",
        )
        p.add_argument("--products", type=int, default=5, help="Products per tenant.")
        p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
        p.add_argument("--keep", action="store_true", help="Keep the database at the end.")
        p.add_argument("--seed", type=int, default=7, help="Random seed (tenant choice).")

    p = sub.add_parser("tenants", help="Provision up to each size and measure there.")
    common(p, "postgres://postgres@127.0.0.1:5432/atrium_bench_scale")
    p.add_argument("--sizes", default="10,1000", help="Comma-separated tenant counts.")
    p.add_argument("--sample", type=int, default=200, help="Tenants the latency samples hit.")
    p.add_argument("--requests", type=int, default=600, help="Timed product lists per size.")
    p.add_argument(
        "--touch", type=int, default=1000, help="Different tenants for the backend memory."
    )
    p.add_argument(
        "--fanout-timeout", type=float, default=300, help="Seconds for the worker fan-out."
    )
    p.add_argument(
        "--server-touch",
        type=int,
        default=1000,
        help="Different tenants the server then serves (first request each).",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="Tenants provisioned at a time (threads)."
    )

    p = sub.add_parser("migrate", help="tenants migrate against django-tenants' migrate_schemas.")
    common(p, "postgres://postgres@127.0.0.1:5432/atrium_bench_scale_migrate")
    p.add_argument("--tenants", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=2, help="`tenants migrate --parallel`.")
    p.add_argument(
        "--dt-timeout",
        type=float,
        default=900,
        help="Seconds one django-tenants run may take; a run cut there is extrapolated.",
    )
    args = parser.parse_args(argv)
    if args.command == "tenants":
        args.size_list = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
        if not args.size_list or args.size_list[0] < 1:
            parser.error("--sizes needs positive tenant counts")
    return args


# ----------------------------------------------------------------------------- setup


def configure_environment(args: argparse.Namespace) -> None:
    """For this process and its subprocesses; must run before django.setup()."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["CHANNEL_REDIS_URL"] = args.redis_url
    os.environ["CELERY_BROKER_URL"] = args.redis_url
    os.environ["CELERY_RESULT_BACKEND"] = ""
    os.environ["ATRIUM_BASE_DOMAIN"] = BASE_DOMAIN
    # Provisioning takes the clone path: a refill task queued after each creation finds a
    # target of 0 (and the queue is purged before a worker is started).
    os.environ["ATRIUM_SPARE_POOL_SIZE"] = "0"
    os.environ["ATRIUM_BENCH_DB_POOL"] = "0"  # this process; the server gets 1
    os.environ["JWT_ACCESS_MINUTES"] = "600"
    os.environ.pop("ATRIUM_BENCH_CATALOG_MIGRATIONS", None)


def django_setup() -> None:
    import django

    django.setup()


def manage(*arguments: str, env: dict | None = None, timeout: float | None = None):
    """``manage.py <arguments>`` as a subprocess: (exit code, stdout, stderr, wall seconds)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started


def machine_info() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
        settings_ = {}
        for name in ("shared_buffers", "max_connections", "work_mem", "max_locks_per_transaction"):
            cursor.execute(f"SHOW {name}")
            settings_[name] = cursor.fetchone()[0]
    return {
        **machine_basics(),
        "django": metadata.version("django"),
        "django_tenants": metadata.version("django-tenants"),
        "postgresql": pg_version.split(" on ")[0],
        "postgresql_settings": settings_,
        "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- provisioning


def slug_for(index: int) -> str:
    return f"t{index:05d}"


def seed_catalog(tenant, products: int) -> None:
    """A small catalog through the catalog's services: two categories, ``products`` items."""
    from atrium.apps.catalog import services
    from atrium.apps.catalog.models import ProductStatus
    from atrium.platform.accounts.models import Role, User
    from atrium.tenants.context import tenant_scope

    with tenant_scope(tenant):
        owner = User.objects.get(role=Role.OWNER)
        categories = [services.category_create(name=n) for n in ("Tools", "Parts")]
        for index in range(products):
            services.product_create(
                owner=owner,
                name=f"Item {index + 1}",
                sku=f"SKU-{index + 1:03d}",
                price=Decimal(100 + index) / 10,
                stock=index,
                status=ProductStatus.ACTIVE,
                category=categories[index % 2],
            )


class Fleet:
    """The tenants provisioned so far: slug -> generated owner password, and timings."""

    def __init__(self, products: int) -> None:
        self.products = products
        self.passwords: dict[str, str] = {}
        self.create_seconds: list[float] = []
        self.catalog_seconds: list[float] = []
        # CPU of this process and of its PostgreSQL backend per tenant (create + catalog):
        # unlike wall time, it does not grow when other work on the machine takes the CPUs.
        self.cpu_seconds: list[float] = []
        self.step_seconds: list[float] = []  # wall time of each grow_to()

    def grow_to(self, total: int, workers: int = 1) -> None:
        """Provision tenants up to ``total``, ``workers`` at a time (threads, a connection each)."""
        import threading

        start = len(self.passwords)
        results: dict[int, tuple] = {}
        failures: list[BaseException] = []
        progress = {"done": 0}
        lock = threading.Lock()

        def work(first: int) -> None:
            from django.db import connection

            try:
                for count, index in enumerate(range(first, total, workers), 1):
                    results[index] = self._provision_one(index)
                    if count % RECYCLE_CONNECTION_EVERY == 0:
                        # A backend that made many schemas carries their catalog entries:
                        # 35 % more CPU per creation after 1,000 (measured), so bulk
                        # provisioning starts a fresh one, as DB_POOL_MAX_USES does for requests.
                        connection.close()
                    with lock:
                        progress["done"] += 1
                        done = progress["done"]
                    if done % 250 == 0:
                        log(f"  provisioned {start + done}/{total}")
            except BaseException as exc:  # re-raised in the caller
                failures.append(exc)
            finally:
                connection.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(start + k,)) for k in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        self.step_seconds.append(round(time.perf_counter() - started, 1))
        for index in range(start, total):
            slug, password, create, catalog, cpu = results[index]
            self.passwords[slug] = password
            self.create_seconds.append(create)
            self.catalog_seconds.append(catalog)
            self.cpu_seconds.append(cpu)
        recent = self.create_seconds[-250:]
        log(
            f"  provisioned {total}: last 250 tenant_create p50 "
            f"{percentile(recent, 0.5) * 1000:.1f} ms, catalog p50 "
            f"{percentile(self.catalog_seconds[-250:], 0.5) * 1000:.1f} ms"
        )

    def _provision_one(self, index: int) -> tuple:
        from django.db import connection

        from atrium.tenants.context import public_scope
        from atrium.tenants.provisioning import tenant_create

        slug = slug_for(index)
        with public_scope():
            connection.ensure_connection()
            backend = connection.connection.info.backend_pid
            cpu_before = time.thread_time() + (cpu_seconds(backend) or 0.0)
            started = time.perf_counter()
            result = tenant_create(
                slug=slug, name=f"Scale {slug}", owner_email=f"owner@{slug}.test"
            )
            created = time.perf_counter()
            seed_catalog(result.tenant, self.products)
            finished = time.perf_counter()
            cpu = time.thread_time() + (cpu_seconds(backend) or 0.0) - cpu_before
        return slug, result.owner_password, created - started, finished - created, cpu


def provisioning_figures(fleet: Fleet, upto: int, previous: int) -> dict:
    """Per-tenant provisioning (tenant_create, then catalog) and the first/last 100 rate."""
    create = fleet.create_seconds[:upto]
    catalog = fleet.catalog_seconds[:upto]
    both = [a + b for a, b in zip(create, catalog, strict=True)]
    figures = {
        "tenant_create_all": summarize_ms(create, keep_samples=False),
        "catalog_all": summarize_ms(catalog, keep_samples=False),
        "tenant_create_since_previous_size": summarize_ms(create[previous:], keep_samples=False),
        "wall_seconds_of_each_step": fleet.step_seconds,
        "total_seconds_tenant_create": round(sum(create), 1),
        "total_seconds_with_catalog": round(sum(both), 1),
    }
    if upto >= 200:
        first, last = both[:100], both[-100:]
        figures["first_100_mean_ms"] = round(sum(first) / 100 * 1000, 2)
        figures["last_100_mean_ms"] = round(sum(last) / 100 * 1000, 2)
        figures["first_100_per_second"] = round(100 / sum(first), 1)
        figures["last_100_per_second"] = round(100 / sum(last), 1)
        figures["degradation_last_over_first"] = round(sum(last) / sum(first), 3)
        cpu = fleet.cpu_seconds[:upto]
        figures["cpu_first_100_mean_ms"] = round(sum(cpu[:100]) / 100 * 1000, 2)
        figures["cpu_last_100_mean_ms"] = round(sum(cpu[-100:]) / 100 * 1000, 2)
        figures["cpu_degradation_last_over_first"] = round(sum(cpu[-100:]) / sum(cpu[:100]), 3)
    return figures


def cli_creations(count: int, offset: int) -> dict:
    """A few creations through the real CLI (``tenants create``), wall time per process."""
    seconds, reported = [], []
    for index in range(count):
        slug = f"cli{offset:05d}x{index}"
        code, out, err, wall = manage(
            "tenants", "create", slug, "--name", f"CLI {slug}", "--owner-email",
            f"owner@{slug}.test", "--json",
        )  # fmt: skip
        if code != 0:
            raise BenchmarkError(f"`tenants create {slug}` failed ({code}): {err or out}")
        seconds.append(wall)
        reported.append(json.loads(out)["seconds"])
    return {
        "count": count,
        "wall_seconds": [round(s, 3) for s in seconds],
        "reported_seconds": reported,
        "note": "wall includes Python and Django start-up of each `manage.py` process",
    }


def database_figures() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()), "
            "(SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute), "
            "pg_total_relation_size('pg_catalog.pg_class') + "
            "pg_total_relation_size('pg_catalog.pg_attribute') + "
            "pg_total_relation_size('pg_catalog.pg_depend') + "
            "pg_total_relation_size('pg_catalog.pg_index')"
        )
        size, classes, attributes, catalog = cursor.fetchone()
    return {
        "database_mib": round(size / 1024**2, 1),
        "pg_class_rows": classes,
        "pg_attribute_rows": attributes,
        "catalog_tables_mib": round(catalog / 1024**2, 1),
    }


# ----------------------------------------------------------------------------- HTTP


class Server:
    """``uvicorn config.asgi:application``, one process, psycopg pool on."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / f"uvicorn-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-access-log", "--log-level", "warning"],
            cwd=REPO_ROOT,
            env={**os.environ, "ATRIUM_BENCH_DB_POOL": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, host: str, headers=None, body=None):
        for attempt in (1, 2):
            try:
                self.conn.request(
                    method, path, body=body, headers={"Host": host, **(headers or {})}
                )
                response = self.conn.getresponse()
                return (
                    response.status,
                    {k.lower(): v for k, v in response.getheaders()},
                    response.read(),
                )
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchmarkError(f"uvicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                if self.request("GET", "/healthz", f"{slug_for(0)}.{BASE_DOMAIN}")[0] == 200:
                    return
            except OSError:
                self.conn.close()
            time.sleep(0.2)
        raise BenchmarkError(f"uvicorn did not answer /healthz in {timeout:.0f} s")

    def login(self, slug: str, password: str) -> str:
        status, _, payload = self.request(
            "POST",
            "/api/v1/auth/token/",
            f"{slug}.{BASE_DOMAIN}",
            {"Content-Type": "application/json"},
            json.dumps({"email": f"owner@{slug}.test", "password": password}),
        )
        if status != 200:
            raise BenchmarkError(f"Login on {slug} answered {status}: {payload[:300]!r}")
        return json.loads(payload)["access"]

    def product_list(self, slug: str, token: str, nonce: str, products: int) -> float:
        started = time.perf_counter()
        status, headers, payload = self.request(
            "GET",
            f"{LIST_PATH}&{NONCE_PARAM}={nonce}",
            f"{slug}.{BASE_DOMAIN}",
            {"Authorization": f"Bearer {token}"},
        )
        elapsed = time.perf_counter() - started
        if status != 200:
            raise BenchmarkError(f"Product list on {slug} answered {status}: {payload[:300]!r}")
        if headers.get("x-cache") != "miss" or json.loads(payload)["count"] != products:
            raise BenchmarkError(f"Product list on {slug}: not an uncached list of {products}")
        return elapsed

    def rss_kib(self) -> int | None:
        return proc_status_kib(self.proc.pid, "VmRSS")

    def stop(self) -> None:
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def backends_of_others() -> list[dict]:
    """The bench database's backends other than this process's own, with their memory."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        rows = cursor.fetchall()
    return [
        {
            "pid": pid,
            "state": state,
            "rss_kib": proc_status_kib(pid, "VmRSS"),
            "pss_kib": pss_kib(pid),
        }
        for pid, state in rows
    ]


def own_backend_memory() -> dict:
    """This connection's backend: all memory contexts, and CacheMemoryContext with children."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(total_bytes), "
            # The relation cache and its per-index children (PostgreSQL 15 has no path).
            "sum(total_bytes) FILTER (WHERE 'CacheMemoryContext' IN (name, parent)) "
            "FROM pg_backend_memory_contexts"
        )
        total, cache = cursor.fetchone()
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return {
        "contexts_total_kib": round(total / 1024),
        "cache_memory_context_kib": round((cache or 0) / 1024),
        "rss_kib": proc_status_kib(pid, "VmRSS"),
        "pss_kib": pss_kib(pid),
    }


def measure_backend_growth(fleet: Fleet, touch: int, rng: random.Random) -> dict:
    """One backend serves authenticated product lists of ``touch`` different tenants.

    In process, through Django's test client, which keeps the connection open between
    requests (a pooled connection in the server does the same): the growth of that
    backend's memory per tenant touched is what a long-lived pooled connection pays.
    """
    from django.db import connection
    from django.test import Client

    slugs = rng.sample(sorted(fleet.passwords), min(touch, len(fleet.passwords)))
    client = Client()
    connection.close()
    checkpoints = sorted({0, 1, 10, 100, 250, 500, len(slugs)} & set(range(len(slugs) + 1)))
    curve = []
    started = time.perf_counter()
    for index, slug in enumerate(slugs):
        if index in checkpoints:
            curve.append({"tenants_touched": index, **own_backend_memory()})
        host = f"{slug}.{BASE_DOMAIN}"
        login = client.post(
            "/api/v1/auth/token/",
            {"email": f"owner@{slug}.test", "password": fleet.passwords[slug]},
            content_type="application/json",
            HTTP_HOST=host,
        )
        if login.status_code != 200:
            raise BenchmarkError(f"in-process login on {slug}: {login.status_code}")
        listing = client.get(
            f"{LIST_PATH}&{NONCE_PARAM}=mem{index}",
            HTTP_HOST=host,
            HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}",
        )
        if listing.status_code != 200 or listing.json()["count"] != fleet.products:
            raise BenchmarkError(f"in-process list on {slug}: {listing.status_code}")
    curve.append({"tenants_touched": len(slugs), **own_backend_memory()})
    first, last = curve[0], curve[-1]
    per_tenant = (
        (last["cache_memory_context_kib"] - first["cache_memory_context_kib"]) / len(slugs)
        if slugs
        else 0.0
    )
    connection.close()
    return {
        "tenants_touched": len(slugs),
        "seconds": round(time.perf_counter() - started, 1),
        "curve": curve,
        "cache_growth_kib_per_tenant": round(per_tenant, 1),
    }


def measure_http(args, fleet: Fleet, size: int, rng: random.Random, workdir: Path) -> dict:
    from django.db import connections

    sample = rng.sample(sorted(fleet.passwords), min(args.sample, len(fleet.passwords)))
    server = Server(workdir)
    try:
        server.wait_ready()
        tokens = {slug: server.login(slug, fleet.passwords[slug]) for slug in sample}
        # One untimed list per sampled tenant first: the timed requests then measure a
        # tenant the process has seen (routing directory, JWT key), not its first request.
        for slug in sample:
            server.product_list(slug, tokens[slug], f"w{size}-{slug}", fleet.products)
        timings = []
        for index in range(args.requests):
            slug = rng.choice(sample)
            timings.append(
                server.product_list(slug, tokens[slug], f"{size}-{index}", fleet.products)
            )
        web_rss_after_sample = server.rss_kib()
        # Then the server's pooled connections serve `touch` different tenants.
        touch = rng.sample(sorted(fleet.passwords), min(args.server_touch, len(fleet.passwords)))
        first_requests = []
        for slug in touch:
            token = tokens.get(slug) or server.login(slug, fleet.passwords[slug])
            first_requests.append(
                server.product_list(slug, token, f"t{size}-{slug}", fleet.products)
            )
        backends = backends_of_others()
        connections.close_all()
        return {
            "sampled_tenants": len(sample),
            "product_list": summarize_ms(timings),
            "product_list_touching_many": {
                "tenants": len(touch),
                **summarize_ms(first_requests, keep_samples=False),
            },
            "web_rss_kib_after_sample": web_rss_after_sample,
            "web_rss_kib_after_touching": server.rss_kib(),
            "web_vmhwm_kib": proc_status_kib(server.proc.pid, "VmHWM"),
            "server_backends_after_touching": backends,
        }
    finally:
        server.stop()


def measure_worker(args, size: int, redis_client, workdir: Path) -> dict:
    """A Celery worker (prefork, 2 processes) runs one fan-out to every active tenant."""
    from config.celery import app as celery_app

    celery_app.control.purge()  # the pool refills tenant_create() queued: not this test's
    log_path = workdir / f"worker-{size}.log"
    with open(log_path, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork",
             "--concurrency=2", "--without-gossip", "--without-mingle", "--loglevel=WARNING",
             "-n", f"scale{size}@%h"],
            cwd=REPO_ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=1) and time.monotonic() < deadline:
            if worker.poll() is not None:
                raise BenchmarkError(f"celery worker exited: {log_path.read_text()[-2000:]}")
        tree = [worker.pid, *children_of(worker.pid)]
        rss_idle = sum(proc_status_kib(pid, "VmRSS") or 0 for pid in tree)
        started = time.perf_counter()
        celery_app.send_task("platform.run_for_active_tenants", args=["catalog.recompute_stats"])
        finished = False
        deadline = time.monotonic() + args.fanout_timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            inspect = celery_app.control.inspect(timeout=1)
            active = inspect.active() or {}
            if redis_client.llen("celery") == 0 and not any(active.values()):
                finished = True
                break
        elapsed = time.perf_counter() - started
        tree = [worker.pid, *children_of(worker.pid)]
        return {
            "tenants": size,
            "fanout_finished": finished,
            "fanout_seconds": round(elapsed, 1),
            "tasks_left_in_queue": redis_client.llen("celery"),
            "worker_rss_kib_idle": rss_idle,
            "worker_rss_kib_after_fanout": sum(proc_status_kib(p, "VmRSS") or 0 for p in tree),
            "worker_processes": len(tree),
        }
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)
        celery_app.control.purge()


def run_tenants(args: argparse.Namespace, redis_client, workdir: Path, results: dict) -> None:
    from django.core.management import call_command

    from atrium.tenants.context import public_scope

    rng = random.Random(args.seed)
    log("Migrating the bench database (public and template)…")
    call_command("tenants", "migrate", stdout=io.StringIO())
    fleet = Fleet(args.products)
    previous = 0
    for size in args.size_list:
        log(f"Provisioning up to {size} tenants…")
        with public_scope():
            fleet.grow_to(size, args.workers)
        log(f"At {size} tenants: CLI creations, database size, HTTP, memory, worker…")
        cli = cli_creations(3, size)
        db = database_figures()
        http = measure_http(args, fleet, size, rng, workdir)
        backend = measure_backend_growth(fleet, args.touch, rng)
        worker = measure_worker(args, size, redis_client, workdir)
        entry = {
            "tenants": size,
            "provisioning": provisioning_figures(fleet, size, previous),
            "cli_create": cli,
            "database": db,
            "http": http,
            "backend_memory": backend,
            "worker": worker,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        results["sizes"].append(entry)
        results["targets"] = tenants_targets(results["sizes"])
        write_tenants_results(args, results)
        log(
            f"  {size}: list p50 {http['product_list']['p50_ms']} ms, DB "
            f"{db['database_mib']} MiB, backend cache +{backend['cache_growth_kib_per_tenant']} "
            "KiB/tenant"
        )
        previous = size


def tenants_targets(sizes: list[dict]) -> list[dict]:
    targets = []
    smallest, largest = sizes[0], sizes[-1]
    if largest is not smallest:
        ratio = (
            largest["http"]["product_list"]["p50_ms"] / smallest["http"]["product_list"]["p50_ms"]
        )
        targets.append(
            {
                "name": f"list p50 at {largest['tenants']} / at {smallest['tenants']} tenants",
                "value": round(ratio, 3),
                "target": f"<= {TARGET_LATENCY_RATIO}",
                "met": ratio <= TARGET_LATENCY_RATIO,
            }
        )
    prov = largest["provisioning"]
    if "degradation_last_over_first" in prov:
        value = prov["degradation_last_over_first"]
        targets.append(
            {
                "name": f"provisioning time, last 100 / first 100 (of {largest['tenants']})",
                "value": value,
                "target": f"<= {TARGET_PROVISIONING_DEGRADATION}",
                "met": value <= TARGET_PROVISIONING_DEGRADATION,
            }
        )
    return targets


# ----------------------------------------------------------------------------- migrations


DJANGO_TENANTS_MIGRATE = (
    "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'config.settings.dev'); django.setup(); "
    "from django_tenants.management.commands.migrate_schemas import Command; "
    "Command().run_from_argv(['manage.py', *sys.argv[1:]])"
)


def django_tenants(label: str, executor: str, env: dict, timeout: float, tenants: int) -> dict:
    """``migrate_schemas --executor <executor>``; a run cut by ``timeout`` is extrapolated."""
    # manage.py's migrate_schemas is Atrium's refusal (atrium/tenants/management/refusal.py):
    # run django-tenants' own command class directly.
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
    out_path = Path(tempfile.mkstemp(prefix="dt-migrate-", suffix=".log")[1])
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            code = proc.wait(timeout=timeout)
            cut = False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code, cut = None, True
    wall = time.perf_counter() - started
    text = out_path.read_text(errors="replace")
    out_path.unlink()
    # One "=== Starting migration" line per schema (public included) at verbosity 1.
    started_schemas = text.count("=== Starting migration")
    tenant_schemas = max(0, started_schemas - 1)
    result = {
        "command": shlex.join(["python", "manage.py", *command[3:]]),
        "exit_code": code,
        "wall_seconds": round(wall, 2),
        "cut_at_timeout": cut,
        "tenant_schemas_started": tenant_schemas,
    }
    if code not in (0, None):
        raise BenchmarkError(f"{label} failed ({code}):\n{text[-3000:]}")
    if cut:
        # Time per tenant schema so far, times every tenant: an estimate, and labelled so.
        result["extrapolated_seconds"] = round(wall / max(tenant_schemas, 1) * tenants, 1)
    log(f"  {label}: {result}")
    return result


def dt_seconds(run: dict) -> float:
    return run.get("extrapolated_seconds", run["wall_seconds"])


# ----------------------------------------------------------------------------- output


def fmt_kib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def render_tenants(results: dict) -> str:
    lines = [
        "# Scale benchmark: tenants",
        "",
        f"Run {results['started_at']} with `{results['command']}`"
        f"{' (in progress)' if not results.get('finished') else ''}.",
        "",
        "| tenants | tenant_create p50 / p99 ms | + catalog p50 ms | last/first 100 | DB MiB "
        "| pg_class rows | list p50 / p99 ms | list, 1st request per tenant p50 ms "
        "| web RSS MiB | worker RSS MiB (fan-out s) | backend cache KiB/tenant |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results["sizes"]:
        p, h, w, b = s["provisioning"], s["http"], s["worker"], s["backend_memory"]
        lines.append(
            f"| {s['tenants']} | {p['tenant_create_all']['p50_ms']:.1f} / "
            f"{p['tenant_create_all']['p99_ms']:.1f} | {p['catalog_all']['p50_ms']:.1f} | "
            f"{p.get('degradation_last_over_first', '-')} (CPU "
            f"{p.get('cpu_degradation_last_over_first', '-')}) | {s['database']['database_mib']} | "
            f"{s['database']['pg_class_rows']} | {h['product_list']['p50_ms']:.2f} / "
            f"{h['product_list']['p99_ms']:.2f} | {h['product_list_touching_many']['p50_ms']:.2f} | "
            f"{fmt_kib(h['web_rss_kib_after_touching'])} | "
            f"{fmt_kib(w['worker_rss_kib_after_fanout'])} ({w['fanout_seconds']}"
            f"{'' if w['fanout_finished'] else ', cut'}) | {b['cache_growth_kib_per_tenant']} |"
        )
    lines += ["", "Backend memory as one connection serves more tenants (in process):", ""]
    for s in results["sizes"]:
        curve = ", ".join(
            f"{c['tenants_touched']}: {c['cache_memory_context_kib'] / 1024:.1f} MiB cache / "
            f"{c['contexts_total_kib'] / 1024:.1f} MiB all"
            for c in s["backend_memory"]["curve"]
        )
        lines.append(f"- at {s['tenants']} tenants: {curve}")
        server = s["http"]["server_backends_after_touching"]
        lines.append(
            f"  - the server's pooled backends after {s['http']['product_list_touching_many']['tenants']}"
            " tenants: "
            + (
                ", ".join(
                    f"RSS {fmt_kib(x['rss_kib'])} / PSS {fmt_kib(x['pss_kib'])} MiB" for x in server
                )
                or "none open"
            )
        )
    lines += render_targets(results.get("targets", []))
    lines += [render_machine(results), ""]
    return "\n".join(lines)


def render_targets(targets: list[dict]) -> list[str]:
    return [
        "",
        "| target | value | limit | met |",
        "|---|---|---|:---:|",
        *(
            f"| {t['name']} | {t['value']} | {t['target']} | {'yes' if t['met'] else 'NO'} |"
            for t in targets
        ),
        "",
    ]


def render_machine(results: dict) -> str:
    m = results.get("machine") or {}
    if not m:
        return ""
    return (
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"{m['postgresql']} (shared_buffers {m['postgresql_settings']['shared_buffers']}), "
        f"Python {m['python']}, Django {m['django']}, django-tenants {m['django_tenants']}; "
        f"load average at start {results['load_average_at_start']}, at end "
        f"{m['load_average_1_5_15_at_end']} (other work shared the 2 CPUs). Git "
        f"{(results['git']['commit'] or '?')[:12]}{' (dirty)' if results['git']['dirty'] else ''}."
    )


def write_tenants_results(args, results: dict) -> None:
    write_atomically(args.results_dir / "scale-tenants.json", json.dumps(results, indent=2) + "\n")
    write_atomically(args.results_dir / "scale-tenants.md", render_tenants(results))


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    refuse_foreign_database(args.database_url)
    configure_environment(args)
    started = time.perf_counter()
    results = {
        "benchmark": f"scale-{args.command}",
        "command": shlex.join([".venv/bin/python", "benchmarks/scale.py", *sys.argv[1:]]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("command",)
        },
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "git": git_state(),
    }
    redis_client = claim_redis_db(args.redis_url, REDIS_MARKER_KEY)
    log(f"Creating database {database_name(args.database_url)!r}…")
    drop_database(args.database_url, create_again=True)
    workdir = Path(tempfile.mkdtemp(prefix="atrium-scale-"))
    try:
        django_setup()
        if args.command == "tenants":
            results["sizes"] = []
            run_tenants(args, redis_client, workdir, results)
        else:
            results["runs"] = {}
            replay_bench.run_migrate(args, workdir, results)
        results["machine"] = machine_info()
        results["finished"] = True
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.database_url)
            log(f"Dropped database {database_name(args.database_url)!r}.")
        redis_client.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)
    results["duration_seconds"] = round(time.perf_counter() - started, 1)
    name = f"scale-{args.command}"
    write_atomically(args.results_dir / f"{name}.json", json.dumps(results, indent=2) + "\n")
    render = render_tenants if args.command == "tenants" else replay_bench.render_migrate
    write_atomically(args.results_dir / f"{name}.md", render(results))
    for t in results.get("targets", []):
        print(f"{'met ' if t['met'] else 'MISS'}  {t['name']}: {t['value']} ({t['target']})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        print(f"scale benchmark: {exc}", file=sys.stderr)
        sys.exit(2)
