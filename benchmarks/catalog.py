#!/usr/bin/env python
"""Catalog list benchmark: ``GET /api/v1/catalog/products/?page_size=20``, uncached and cached.

Extends the API benchmark (``benchmarks/api.py``, whose helpers it imports) to the catalog.
In one run, on a database and a Redis DB of its own (created at the start, dropped at the
end), with ``--products`` products in one tenant:

* **uncached**: every request misses the response cache (``X-Cache: miss``): the same list,
  page 1 of 20, with a query parameter the view does not read (``bench_nonce``) set to a
  value no request used before, so the cache key (the full path) is new each time;
* **cached**: ``?page_size=20`` over and over after a warm-up (``X-Cache: hit``);
* **pgbench**: ``pgbench -S`` (select-only) on the same PostgreSQL, in a database of its own.

The three run in rounds, in a rotating order, with the same concurrency (4 clients by
default); the issue's target is uncached requests/s >= 1/25 of pgbench's transactions/s.
Results go to benchmarks/results/catalog.{json,md}. See benchmarks/README.md.

    .venv/bin/python benchmarks/catalog.py                                   # the full run
    .venv/bin/python benchmarks/catalog.py --products 2000 --duration 3 --rounds 1 \\
        --warmup 1 --breakdown-requests 20 --results-dir /tmp/bench          # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import api  # noqa: E402
from benchmarks.api import BenchmarkError, log  # noqa: E402
from benchmarks.api_breakdown import Meter  # noqa: E402
from benchmarks.common import claim_redis_db  # noqa: E402
from benchmarks.httpload import build_request, percentile, read_response  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/atrium_bench_catalog"
DEFAULT_PGBENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/atrium_bench_pgbench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
REDIS_MARKER_KEY = "atrium-bench:catalog"
SETTINGS_MODULE = "benchmarks.settings_catalog"

# The tenant, host and owner of the API benchmark, so that its helpers (api.get, api.login,
# api.Server.wait_ready) work unchanged.
TENANT_SLUG = api.TENANT_SLUG
HOST = api.HOST
OWNER_EMAIL = api.OWNER_EMAIL

LIST_BASE = "/api/v1/catalog/products/"
PAGE_SIZE = 20
LIST_PATH = f"{LIST_BASE}?page_size={PAGE_SIZE}"
# Read by nothing in the view (the filterset, search, ordering and pagination ignore it); it
# only makes the full path, and so the cache key, new.
NONCE_PARAM = "bench_nonce"
TARGET_RATIO = 1 / 25
MIN_CACHE_RATIO = 0.99  # uncached: at least 99 % misses; cached: at least 99 % hits
PGBENCH_LOG_SAMPLING = 0.01
LABELS = ("uncached", "cached", "pgbench")
SEED = 20261124

WRK_SCRIPT = """
wrk.method = "GET"
{headers}
local path = {path}
local nonce_prefix = {nonce_prefix}
local counter = 0
local prebuilt = nil
hits, misses, others = 0, 0, 0
local threads = {{}}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function request()
  if nonce_prefix then
    counter = counter + 1
    return wrk.format(nil, path .. "&{nonce_param}=" .. nonce_prefix .. "-" .. tid .. "-" .. counter)
  end
  if prebuilt == nil then
    prebuilt = wrk.format(nil, path)
  end
  return prebuilt
end

function response(status, headers, body)
  local x = headers["X-Cache"] or headers["x-cache"]
  if x == "miss" then
    misses = misses + 1
  elseif x == "hit" then
    hits = hits + 1
  else
    others = others + 1
  end
end

done = function(summary, latency, requests)
  local h, m, o = 0, 0, 0
  for _, t in ipairs(threads) do
    h = h + t:get("hits")
    m = m + t:get("misses")
    o = o + t:get("others")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {{"connect": %d, '
    .. '"read": %d, "write": %d, "status": %d, "timeout": %d}}, "latency_us": {{"p50": %d, '
    .. '"p90": %d, "p99": %d, "max": %d, "mean": %.1f}}, "cache": {{"hit": %d, "miss": %d, '
    .. '"other": %d}}}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, h, m, o))
end
"""


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--products", type=int, default=10_000, help="Products in the tenant.")
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds per measurement.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Rounds of one uncached, one cached and one pgbench measurement (order rotates).",
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="Untimed seconds of each before round 1."
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="HTTP keep-alive connections (concurrency)."
    )
    parser.add_argument("--pgbench-clients", type=int, default=4, help="pgbench -c.")
    parser.add_argument("--pgbench-jobs", type=int, default=2, help="pgbench -j (threads).")
    parser.add_argument("--pgbench-scale", type=int, default=10, help="pgbench -i -s.")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="HTTP load generator: wrk (auto: when installed) or a Python one (see _load).",
    )
    parser.add_argument(
        "--db-conn-max-age",
        type=int,
        default=0,
        help="DB_CONN_MAX_AGE of the server (see benchmarks/api.py: under ASGI each request "
        "has a thread and so a connection of its own).",
    )
    parser.add_argument(
        "--db-pool",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="psycopg's connection pool, the application's default (DB_POOL); --no-db-pool: "
        "a new connection per request; results go to catalog-nopool.{json,md}.",
    )
    parser.add_argument(
        "--breakdown-requests",
        type=int,
        default=300,
        help="Sequential in-process requests per case for the time breakdown (0: skip).",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ATRIUM_BENCH_CATALOG_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="Bench database (created and dropped; its name must contain 'bench').",
    )
    parser.add_argument(
        "--pgbench-database-url",
        default=os.environ.get("ATRIUM_BENCH_PGBENCH_DATABASE_URL", DEFAULT_PGBENCH_DATABASE_URL),
        help="pgbench's database on the same server (created and dropped; name with 'bench').",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("ATRIUM_BENCH_CATALOG_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis DB of the benchmark's own: cache, routing, rate limits, Celery broker.",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="Where results go."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep both databases and the Redis DB at the end."
    )
    parser.add_argument(
        "--check", action="store_true", help="Exit with status 1 when the target is missed."
    )
    args = parser.parse_args(argv)
    if args.products < PAGE_SIZE:
        parser.error(f"--products must be at least {PAGE_SIZE} (one full page)")
    if not 1 <= args.duration <= 300:
        parser.error("--duration must be between 1 and 300 seconds")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.warmup < 0 or args.breakdown_requests < 0:
        parser.error("--warmup and --breakdown-requests must be 0 or more")
    if not 1 <= args.connections <= 1000 or not 1 <= args.pgbench_clients <= 1000:
        parser.error("--connections and --pgbench-clients must be between 1 and 1000")
    if not 1 <= args.pgbench_jobs <= args.pgbench_clients:
        parser.error("--pgbench-jobs must be between 1 and --pgbench-clients")
    if args.db_pool and args.db_conn_max_age:
        parser.error(
            "the pool needs --db-conn-max-age 0 (Django refuses both together): add --no-db-pool"
        )
    if args.pgbench_scale < 1:
        parser.error("--pgbench-scale must be at least 1")
    for url in (args.database_url, args.pgbench_database_url):
        if "bench" not in api.database_name(url):
            parser.error(
                f"Refusing to use {api.database_name(url)!r}: the bench databases are dropped "
                "and re-created, so their names must contain 'bench'."
            )
    if api.database_name(args.database_url) == api.database_name(args.pgbench_database_url):
        parser.error("--database-url and --pgbench-database-url must be different databases")
    return args


# ----------------------------------------------------------------------------- services


def run_minutes(args: argparse.Namespace) -> int:
    seconds = 3 * args.warmup + 3 * args.rounds * (args.duration + 3) + 120
    return math.ceil(seconds / 60)


def configure_environment(args: argparse.Namespace) -> None:
    """For this process and every subprocess: bench settings, database and Redis DB."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    # tenant_create() queues a pool refill; nothing publishes events during the run, but
    # the channel layer would otherwise default to DB 2 of the same server.
    os.environ["CELERY_BROKER_URL"] = args.redis_url
    os.environ["CHANNEL_REDIS_URL"] = args.redis_url
    os.environ["ATRIUM_SPARE_POOL_SIZE"] = "0"
    os.environ["DB_CONN_MAX_AGE"] = str(args.db_conn_max_age)
    os.environ["DB_POOL"] = "1" if args.db_pool else "0"
    # The one access token must outlive the run (the default lifetime is 15 minutes).
    os.environ["JWT_ACCESS_MINUTES"] = str(max(15, run_minutes(args) + 10))


def manage(*arguments: str) -> str:
    """``python manage.py …`` as a subprocess (the operator CLI); its output."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise BenchmarkError(
            f"manage.py {shlex.join(arguments)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def provision() -> dict:
    """``tenants migrate`` and ``tenants create bench`` through the CLI."""
    manage("tenants", "migrate")
    password = secrets.token_urlsafe(18)
    created = json.loads(
        manage(
            "tenants",
            "create",
            TENANT_SLUG,
            "--name",
            "Bench",
            "--owner-email",
            OWNER_EMAIL,
            "--owner-password",
            password,
            "--json",
        )
    )
    return {"schema": created["schema_name"], "plan": created["plan"], "password": password}


# ----------------------------------------------------------------------------- seeding

ADJECTIVES = ["Deluxe", "Mini", "Pro", "Classic", "Turbo", "Eco", "Max", "Lite", "Ultra", "Smart"]
NOUNS = ["Rocket", "Anvil", "Magnet", "Skates", "Lamp", "Drone", "Desk", "Kettle", "Tent", "Bike"]
TAGS = ["new", "sale", "bestseller", "eco", "heavy", "fragile", "gift", "outdoor", "kids", "pro"]
CATEGORIES = {
    "Outdoor": ["Camping", "Garden", "Cycling"],
    "Home": ["Kitchen", "Lighting", "Furniture"],
    "Tools": ["Power tools", "Hand tools"],
    "Toys": ["Rockets", "Puzzles"],
    "Office": ["Desks", "Stationery"],
}
REVIEW_TITLES = ["Works as advertised", "Great value", "Meh", "Superb", "Broke after a week"]


def seed_catalog(products: int) -> dict:
    """Categories and users through the services; products and reviews by bulk_create.

    Categories (with parents, so the list's ``category__parent`` join has rows) and the
    reviewing members go through the application's services. The products and reviews are
    inserted with ``bulk_create`` in batches: real rows in the tenant's tables, validated
    with ``full_clean`` (foreign keys and uniqueness are left to the database's constraints
    and indexes), with distinct ``created_at`` spread over the past year. The per-row
    services would add per-row slug checks, cache-version bumps and events, none of which
    the read path looks at. The review stats are then computed by the service that repairs
    them (``product_stats_recompute``) and checked against the reviews.
    """
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.text import slugify

    from atrium.apps.catalog import services
    from atrium.apps.catalog.models import Product, ProductStatus, Review
    from atrium.platform.accounts import services as account_services
    from atrium.platform.accounts.models import User
    from atrium.tenants.context import public_scope, tenant_scope
    from atrium.tenants.models import Tenant

    rng = random.Random(SEED)
    started = time.perf_counter()
    with public_scope():
        tenant = Tenant.objects.get(slug=TENANT_SLUG)
    with tenant_scope(tenant):
        owner = User.objects.get(email=OWNER_EMAIL)
        members = [owner] + [
            account_services.user_create(
                actor=owner, email=f"member{i}@bench.test", name=f"Member {i}"
            ).user
            for i in range(1, 10)
        ]
        categories = []
        for top, children in CATEGORIES.items():
            parent = services.category_create(name=top, description=f"All of {top.lower()}.")
            categories.append(parent)
            categories += [services.category_create(name=c, parent=parent) for c in children]

        statuses = [ProductStatus.ACTIVE] * 8 + [ProductStatus.DRAFT, ProductStatus.ARCHIVED]
        rows = []
        for index in range(products):
            noun = rng.choice(NOUNS)
            name = f"{rng.choice(ADJECTIVES)} {noun} {index + 1}"
            product = Product(
                name=name,
                slug=slugify(name),
                sku=f"BEN-{index + 1:06d}",
                description=f"The {noun.lower()} every customer asks for. "
                + " ".join(rng.choices(TAGS, k=rng.randint(5, 25))),
                price=Decimal(rng.randint(100, 99_999)) / 100,
                stock=rng.choice([0, 3, 10, 25, 100, 1000]),
                status=rng.choice(statuses),
                category=rng.choice(categories),
                owner=rng.choice(members),
                tags=sorted(rng.sample(TAGS, rng.randint(0, 4))),
            )
            product.full_clean(
                exclude=["category", "owner"], validate_unique=False, validate_constraints=False
            )
            rows.append(product)
        table = connection.ops.quote_name(Product._meta.db_table)
        with transaction.atomic():
            Product.objects.bulk_create(rows, batch_size=1000)
            # auto_now_add gave every row the same instant, give or take; one product every
            # ~47 minutes over the past year instead, newest with the highest SKU.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS p SET created_at = %s - s.n * interval '47 minutes', "
                    f"updated_at = %s - s.n * interval '47 minutes' FROM (SELECT id, "
                    f"row_number() OVER (ORDER BY sku DESC) AS n FROM {table}) AS s "
                    "WHERE p.id = s.id",
                    [timezone.now(), timezone.now()],
                )

        reviews = []
        for product in rows:
            if rng.random() < 0.3:
                for author in rng.sample(members, rng.randint(1, 3)):
                    review = Review(
                        product=product,
                        author=author,
                        rating=rng.randint(1, 5),
                        title=rng.choice(REVIEW_TITLES),
                        body="Seeded by benchmarks/catalog.py.",
                    )
                    review.full_clean(
                        exclude=["product", "author"],
                        validate_unique=False,
                        validate_constraints=False,
                    )
                    reviews.append(review)
        Review.objects.bulk_create(reviews, batch_size=2000)
        recomputed = services.product_stats_recompute()

        live = Product.objects.count()
        review_table = connection.ops.quote_name(Review._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {table} AS p LEFT JOIN (SELECT product_id, count(*) AS n, "
                f"avg(rating)::numeric(3, 2) AS a FROM {review_table} WHERE NOT is_deleted "
                "GROUP BY product_id) AS r ON r.product_id = p.id WHERE p.review_count <> "
                "coalesce(r.n, 0) OR p.avg_rating IS DISTINCT FROM r.a"
            )
            wrong_stats = cursor.fetchone()[0]
        reviewed = Product.objects.filter(review_count__gt=0).count()
    if live != products or recomputed != products or wrong_stats:
        raise BenchmarkError(
            f"Seeding went wrong: {live} live products of {products}, {recomputed} stats "
            f"recomputed, {wrong_stats} products whose stats disagree with their reviews."
        )
    seconds = time.perf_counter() - started

    # Fresh statistics and a clean visibility map for the planner, as autovacuum would leave
    # them: the created_at and stats UPDATEs rewrote every product row once each.
    vacuum_started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    connection.close()
    return {
        "products": live,
        "categories": len(categories),
        "top_level_categories": len(CATEGORIES),
        "users": len(members),
        "reviews": len(reviews),
        "products_with_reviews": reviewed,
        "statuses": {s: sum(1 for p in rows if p.status == s) for s in ProductStatus.values},
        "review_stats_checked": True,
        "seconds": round(seconds, 1),
        "vacuum_analyze_seconds": round(time.perf_counter() - vacuum_started, 1),
        "method": "categories and users through the services; products and reviews by "
        "bulk_create (full_clean per row), created_at spread over ~47 minutes apart; stats by "
        "product_stats_recompute() and checked; then VACUUM (ANALYZE) of the database",
    }


# ----------------------------------------------------------------------------- CPU accounting


def _stat_fields(pid: str) -> tuple[str, list[str]] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.find("(") + 1 : text.rfind(")")], text.rpartition(")")[2].split()


def _backend_database(pid: str) -> str | None:
    """The database of a PostgreSQL client backend, from its process title."""
    try:
        with open(f"/proc/{pid}/cmdline", encoding="utf-8", errors="replace") as handle:
            title = handle.read().replace("\0", " ").strip()
    except OSError:
        return None
    parts = title.split(": ", 2)  # "postgres: 15/main: user database host(port) state"
    words = parts[2].split() if len(parts) == 3 else []
    return words[1] if len(words) >= 3 and "(" in words[2] else None


def service_cpu_seconds(own_databases: set[str]) -> dict[str, float]:
    """CPU of PostgreSQL and Redis so far, counting PostgreSQL backends that have exited.

    ``api.service_cpu_seconds`` adds up the live processes only, so the CPU of a backend
    that starts and exits between two readings, as each request's does at
    ``DB_CONN_MAX_AGE=0``, is missed. Here the postmaster's reaped children (cutime +
    cstime) are added, and the live backends of other databases are counted apart
    (``postgres_other_databases``): other work on the machine, not this benchmark's.
    """
    tick = api.CLOCK_TICKS
    totals = {"postgres": 0.0, "postgres_other_databases": 0.0, "redis": 0.0}
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat_fields(entry.name)
            if found is not None:
                table[entry.name] = found
    for pid, (comm, fields) in table.items():
        own = (int(fields[11]) + int(fields[12])) / tick
        if comm == "redis-server":
            totals["redis"] += own
        elif comm == "postgres":
            totals["postgres"] += own
            parent = table.get(fields[1])
            if parent is None or parent[0] != "postgres":  # the postmaster
                totals["postgres"] += (int(fields[13]) + int(fields[14])) / tick
            database = _backend_database(pid)
            if database is not None and database not in own_databases:
                totals["postgres_other_databases"] += own
    return totals


def own_databases(args: argparse.Namespace) -> set[str]:
    return {api.database_name(args.database_url), api.database_name(args.pgbench_database_url)}


def run_measured(
    command: list[str],
    server: api.Server,
    own_databases: set[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.CompletedProcess, dict[str, float], float]:
    """Run a load generator; its output, the CPU seconds everyone spent, machine busy %.

    ``api.run_load`` with ``service_cpu_seconds`` above; also used for pgbench.
    """
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, services_before = server.cpu_seconds(), service_cpu_seconds(own_databases)
    busy_before, total_before = api.machine_busy_jiffies()
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=600
    )
    busy_after, total_after = api.machine_busy_jiffies()
    server_after, services_after = server.cpu_seconds(), service_cpu_seconds(own_databases)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if server.proc.poll() is not None:
        raise BenchmarkError(f"uvicorn died during the load:\n{server.log_tail()}")
    delta = {k: services_after[k] - services_before[k] for k in services_before}
    cpu = {
        "server": round(server_after - server_before, 3),
        "postgres": round(delta["postgres"] - delta["postgres_other_databases"], 3),
        "postgres_other_databases": round(delta["postgres_other_databases"], 3),
        "redis": round(delta["redis"], 3),
        "load_generator": round(
            (usage_after.ru_utime - usage_before.ru_utime)
            + (usage_after.ru_stime - usage_before.ru_stime),
            3,
        ),
    }
    busy = round(100 * (busy_after - busy_before) / max(1, total_after - total_before), 1)
    return proc, cpu, busy


def disturbances(cpu: dict, evalsha_calls: int, own_evalsha: int) -> list[str]:
    """Signs of other work on the machine during a measurement (empty: none seen).

    The benchmark's own traffic is known: one throttle script (EVALSHA) per HTTP request,
    none during pgbench, and no backend of another database.
    """
    found = []
    other = cpu["postgres_other_databases"]
    if other < -0.01:
        found.append(
            "a backend of another database exited: its CPU is counted in PostgreSQL's "
            "(overstated)"
        )
    elif other > 0.1:
        found.append(f"backends of other databases used {other:.2f} s of CPU")
    extra = evalsha_calls - own_evalsha
    if extra > max(20, 0.02 * own_evalsha):
        found.append(f"{extra} EVALSHA calls from other Redis clients")
    return found


# ----------------------------------------------------------------------------- pgbench


def libpq_arguments(url: str) -> tuple[list[str], dict[str, str]]:
    """pgbench's connection options and environment for a postgres:// URL."""
    parts = urlsplit(url)
    options = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        options += ["-U", parts.username]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return options, env


def pgbench_init(args: argparse.Namespace) -> dict:
    api.drop_database(args.pgbench_database_url, create_again=True)
    options, env = libpq_arguments(args.pgbench_database_url)
    command = [
        "pgbench",
        "-i",
        "-s",
        str(args.pgbench_scale),
        "-q",
        *options,
        api.database_name(args.pgbench_database_url),
    ]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise BenchmarkError(f"pgbench -i failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return {
        "command": shlex.join(command),
        "scale": args.pgbench_scale,
        "accounts": 100_000 * args.pgbench_scale,
        "seconds": round(time.perf_counter() - started, 1),
    }


def pgbench_command(args: argparse.Namespace, duration: float, log_prefix: Path) -> list[str]:
    options, _ = libpq_arguments(args.pgbench_database_url)
    return [
        "pgbench",
        "-S",
        "-c",
        str(args.pgbench_clients),
        "-j",
        str(args.pgbench_jobs),
        "-T",
        str(max(1, round(duration))),
        # A 1 % sample of the transactions' latencies, for the percentiles.
        "-l",
        "--sampling-rate",
        str(PGBENCH_LOG_SAMPLING),
        "--log-prefix",
        str(log_prefix),
        *options,
        api.database_name(args.pgbench_database_url),
    ]


PGBENCH_PATTERNS = {
    "tps": re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.M),
    "latency_average_ms": re.compile(r"^latency average = ([\d.]+) ms", re.M),
    "transactions": re.compile(r"^number of transactions actually processed: (\d+)", re.M),
    "failed": re.compile(r"^number of failed transactions: (\d+)", re.M),
    "initial_connection_ms": re.compile(r"^initial connection time = ([\d.]+) ms", re.M),
}


def run_pgbench(
    args: argparse.Namespace,
    server: api.Server,
    redis_client: redis.Redis,
    duration: float,
    workdir: Path,
    round_no: int,
) -> dict:
    """One ``pgbench -S`` run: its figures and the CPU everyone spent meanwhile."""
    prefix = workdir / f"pgbench-{round_no}"
    command = pgbench_command(args, duration, prefix)
    _, env = libpq_arguments(args.pgbench_database_url)
    calls_before = redis_command_calls(redis_client)
    proc, cpu, busy = run_measured(command, server, own_databases(args), env=env, cwd=workdir)
    calls_after = redis_command_calls(redis_client)
    if proc.returncode != 0:
        raise BenchmarkError(f"pgbench failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    found = {}
    for name, pattern in PGBENCH_PATTERNS.items():
        match = pattern.search(proc.stdout)
        if match is None and name not in ("failed", "initial_connection_ms"):
            raise BenchmarkError(f"pgbench printed no {name}:\n{proc.stdout}")
        found[name] = float(match.group(1)) if match else None
    if found["failed"]:
        raise BenchmarkError(f"pgbench round {round_no}: {found['failed']:.0f} failed transactions")
    samples = []
    for path in sorted(workdir.glob(f"{prefix.name}.*")):
        with open(path, encoding="ascii") as handle:
            samples += [int(line.split()[2]) for line in handle if line.strip()]
        path.unlink()
    samples.sort()
    transactions = int(found["transactions"])
    return {
        "path": "pgbench",
        "round": round_no,
        "transactions": transactions,
        "seconds": round(duration, 3),
        "requests_per_second": round(found["tps"], 1),
        "latency_ms": {
            "average": found["latency_average_ms"],
            "p50": round(percentile(samples, 0.50) / 1000, 3) if samples else None,
            "p90": round(percentile(samples, 0.90) / 1000, 3) if samples else None,
            "p99": round(percentile(samples, 0.99) / 1000, 3) if samples else None,
            "max_of_sample": round(samples[-1] / 1000, 3) if samples else None,
            "sampled_transactions": len(samples),
        },
        "initial_connection_ms": found["initial_connection_ms"],
        "cpu_us_per_request": {k: round(v * 1e6 / transactions, 1) for k, v in cpu.items()},
        "cpu_seconds": cpu,
        "machine_busy_percent": busy,
        "disturbances": disturbances(cpu, calls_after["evalsha"] - calls_before["evalsha"], 0),
        "command": shlex.join(command),
    }


# ----------------------------------------------------------------------------- HTTP load


def nonce_url(path: str, nonce: str) -> str:
    return f"{path}&{NONCE_PARAM}={nonce}"


def load_command(
    args: argparse.Namespace,
    client: str,
    server: api.Server,
    token: str,
    duration: float,
    nonce_prefix: str | None,
    workdir: Path,
) -> list[str]:
    """The load generator's command: every request a miss (nonce_prefix) or the same URL."""
    headers = {"Host": HOST, "Authorization": f"Bearer {token}"}
    if client == "wrk":
        script = workdir / f"wrk-{nonce_prefix or 'cached'}.lua"
        script.write_text(
            WRK_SCRIPT.format(
                headers="\n".join(
                    f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}"
                    for name, value in headers.items()
                ),
                path=json.dumps(LIST_PATH),
                nonce_prefix=json.dumps(nonce_prefix) if nonce_prefix else "nil",
                nonce_param=NONCE_PARAM,
            ),
            encoding="utf-8",
        )
        return [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(args.connections),
            "--duration",
            f"{duration:g}s",
            "--timeout",
            "10s",
            "--script",
            str(script),
            server.url("/"),
        ]
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "_load",
        "--url",
        server.url(LIST_PATH),
        *(item for name, value in headers.items() for item in ("--header", f"{name}: {value}")),
        "--connections",
        str(args.connections),
        "--duration",
        f"{duration:g}",
        *(["--nonce-prefix", nonce_prefix] if nonce_prefix else []),
    ]


REDIS_COMMANDS = ("get", "set", "evalsha")


def redis_command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls so far (the whole Redis server); ``api.redis_command_calls`` with SET too."""
    stats = client.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in REDIS_COMMANDS}


def run_http(
    args: argparse.Namespace,
    client: str,
    server: api.Server,
    redis_client: redis.Redis,
    token: str,
    label: str,
    round_no: int,
    duration: float,
    expected_bytes: int,
    workdir: Path,
) -> dict:
    """One HTTP measurement; raises unless at least 99 % of the answers were what ``label``
    says (misses for uncached, hits for cached)."""
    nonce_prefix = f"r{round_no}{secrets.token_hex(4)}" if label == "uncached" else None
    command = load_command(args, client, server, token, duration, nonce_prefix, workdir)
    calls_before = redis_command_calls(redis_client)
    proc, cpu, busy = run_measured(command, server, own_databases(args))
    calls_after = redis_command_calls(redis_client)
    summary = None
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = json.loads(line.removeprefix("BENCH_JSON "))
    if proc.returncode != 0 or summary is None:
        raise BenchmarkError(
            f"{command[0]} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    calls = {name: calls_after[name] - calls_before[name] for name in REDIS_COMMANDS}
    summary.update(cpu_seconds=cpu, redis_calls=calls, machine_busy_percent=busy)
    try:
        result = api.measurement(summary, expected_bytes, label, round_no)
    except BenchmarkError as exc:
        tail = server.log_tail(8)
        raise BenchmarkError(f"{exc}\nLast lines of the server's log:\n{tail}") from None
    result["disturbances"] = disturbances(cpu, calls["evalsha"], result["requests"])
    cache = summary["cache"]
    wanted = "miss" if label == "uncached" else "hit"
    ratio = cache[wanted] / max(1, result["requests"])
    result["cache"] = {**cache, f"{wanted}_ratio": round(ratio, 5)}
    result["redis_calls_per_request"] = {
        name: round(calls[name] / result["requests"], 3) for name in REDIS_COMMANDS
    }
    if ratio < MIN_CACHE_RATIO:
        raise BenchmarkError(
            f"{label}, round {round_no}: {ratio:.2%} {wanted}es ({cache}); the measurement "
            f"needs at least {MIN_CACHE_RATIO:.0%}."
        )
    return result


# ----------------------------------------------------------------------------- checks


def check_endpoint(server: api.Server, token: str, products: int) -> dict:
    """The list answers 200 with the seeded catalog; miss, then hit; the nonce misses and
    changes nothing else; throttled but never refused; no token 401; unknown host 404."""
    auth = {"Authorization": f"Bearer {token}"}
    checks = {}

    def expect(name: str, ok: bool, detail: object) -> None:
        checks[name] = {"ok": bool(ok), "detail": detail}
        if not ok:
            raise BenchmarkError(f"Check {name!r} failed: {detail}")

    first = api.get(server, LIST_PATH, auth)
    second = api.get(server, LIST_PATH, auth)
    nonce = api.get(server, nonce_url(LIST_PATH, "check-" + secrets.token_hex(6)), auth)
    expect("200", first["status"] == 200, first["status"])
    body, body_nonce = json.loads(first["body"]), json.loads(nonce["body"])
    expect("count is the products seeded", body.get("count") == products, body.get("count"))
    expect("a page of 20", len(body.get("results", [])) == PAGE_SIZE, len(body.get("results", [])))
    created = [row["created_at"] for row in body["results"]]
    expect("newest first", created == sorted(created, reverse=True), created[:3])
    expect(
        "first request: X-Cache miss", first["headers"].get("x-cache") == "miss", first["headers"]
    )
    expect(
        "second request: X-Cache hit", second["headers"].get("x-cache") == "hit", second["headers"]
    )
    expect("hit: same JSON", json.loads(second["body"]) == body, "bodies differ")
    expect("nonce: X-Cache miss", nonce["headers"].get("x-cache") == "miss", nonce["headers"])
    expect(
        "nonce: same results and count",
        body_nonce["results"] == body["results"] and body_nonce["count"] == body["count"],
        "results differ",
    )
    expect(
        "throttled, nothing refused (RateLimit-Limit)",
        first["headers"].get("ratelimit-limit") == str(api.BURST_LIMIT),
        first["headers"].get("ratelimit-limit"),
    )
    no_token = api.get(server, LIST_PATH)
    expect("without a token: 401", no_token["status"] == 401, no_token["status"])
    foreign = api.get(server, LIST_PATH, {**auth, "Host": "nope.localhost"})
    expect("unknown host: 404", foreign["status"] == 404, foreign["status"])
    return {
        "checks": checks,
        "response_bytes": {"uncached": nonce["size"], "cached": second["size"]},
        "response_body_bytes": len(first["body"]),
        "response_headers": {"uncached": nonce["headers"], "cached": second["headers"]},
    }


# ----------------------------------------------------------------------------- SQL and plans


def explain_list(token: str, products: int) -> dict:
    """The SQL of a miss (page 1 and the last page), with EXPLAIN (ANALYZE, BUFFERS).

    Captured from real requests in this process (``django.test.Client``, nonce URLs, so
    they miss), then each list query explained three times; the last run is kept.
    """
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from atrium.tenants.context import public_scope, tenant_scope
    from atrium.tenants.models import Tenant

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {token}")
    last_page = math.ceil(products / PAGE_SIZE)
    with public_scope():
        tenant = Tenant.objects.get(slug=TENANT_SLUG)

    def captured(path: str, expect_cache: str) -> list[dict]:
        reset_queries()  # the request resets the log when it starts: capture from 0
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        if response.status_code != 200 or response.headers.get("X-Cache") != expect_cache:
            raise BenchmarkError(
                f"{path}: {response.status_code}, X-Cache {response.headers.get('X-Cache')}"
            )
        return [q["sql"] for q in queries]

    pages = {}
    for label, query in (
        ("page 1", f"page_size={PAGE_SIZE}"),
        (f"page {last_page} (last)", f"page={last_page}&page_size={PAGE_SIZE}"),
    ):
        path = f"{LIST_BASE}?{query}&{NONCE_PARAM}=explain-{secrets.token_hex(4)}"
        miss = captured(path, "miss")
        hit = captured(path, "hit")
        plans = []
        with tenant_scope(tenant), connection.cursor() as cursor:
            for query in miss:
                if "catalog_product" not in query:
                    continue
                timings = []
                for _ in range(3):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query)
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
                    timings.append(float(found.group(1)) if found else None)
                plans.append({"sql": query, "execution_ms_runs": timings, "plan": plan})
        connection.close()
        pages[label] = {
            "path": path,
            "queries_on_miss": miss,
            "queries_on_hit": hit,
            "list_queries_explained": plans,
        }
    return pages


def breakdown_in_process(token: str, requests: int) -> dict | None:
    """Where a miss and a hit spend their time: sequential in-process requests.

    ``django.test.Client`` (WSGI, no socket, no HTTP parsing, one request at a time), with
    the API benchmark's ``Meter`` wrapped around the main steps of the list. Components
    nest (the cursor's execute is inside pagination; cache.get inside the JWT check, …).
    """
    if not requests:
        return None
    from django.db import connections
    from django.test import Client

    components = [
        ("SQL: cursor.execute (all queries)", "django.db.backends.utils", "CursorWrapper.execute"),
        ("routing: host lookup", "atrium.tenants.directory", "HostDirectory.lookup"),
        (
            "JWT: decode and verify",
            "atrium.platform.accounts.authentication",
            "TenantJWTAuthentication.get_validated_token",
        ),
        (
            "JWT: load the user (1 query)",
            "atrium.platform.accounts.authentication",
            "TenantJWTAuthentication.get_user",
        ),
        ("throttles", "rest_framework.views", "APIView.check_throttles"),
        ("cache.get", "django_redis.cache", "RedisCache.get"),
        ("cache.set", "django_redis.cache", "RedisCache.set"),
        (
            "pagination: count + page query + rows",
            "rest_framework.pagination",
            "PageNumberPagination.paginate_queryset",
        ),
        (
            "serializer: 20 products to dicts",
            "rest_framework.serializers",
            "ListSerializer.to_representation",
        ),
        ("JSON rendering", "rest_framework.renderers", "JSONRenderer.render"),
    ]
    meter = Meter()
    for label, module_name, attribute in components:
        meter.wrap(label, module_name, attribute)
    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {token}")
    prefix = secrets.token_hex(4)

    def series(label: str, count: int) -> dict:
        paths = (
            [nonce_url(LIST_PATH, f"bd-{prefix}-{label}-{i}") for i in range(count)]
            if label.startswith("uncached")
            else [LIST_PATH] * count
        )
        meter.reset()
        wall, cpu = time.perf_counter(), time.process_time()
        expected = "miss" if label.startswith("uncached") else "hit"
        for path in paths:
            response = client.get(path)
            if response.status_code != 200:
                raise BenchmarkError(f"breakdown: {path} answered {response.status_code}")
            # The cached URL may have expired (TTL) since the load: the warm-up refills it.
            if not label.endswith("warmup") and response.headers.get("X-Cache") != expected:
                raise BenchmarkError(f"breakdown: {path} was not a {expected}")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        us = 1e6 / count
        return {
            "requests": count,
            "wall_us_per_request": round(wall * us, 1),
            "process_cpu_us_per_request": round(cpu * us, 1),
            "components": {
                name: {
                    "calls_per_request": round(meter.calls[name] / count, 2),
                    "wall_us": round(meter.wall[name] * us, 1),
                    "cpu_us": round(meter.cpu[name] * us, 1),
                }
                for name, _, _ in components
                if meter.calls[name]
            },
        }

    try:
        series("uncached-warmup", max(10, requests // 5))
        series("cached-warmup", max(10, requests // 5))
        return {
            "method": "sequential in-process requests through django.test.Client (WSGI), "
            "timers around the components (benchmarks/api_breakdown.py's Meter)",
            "uncached": series("uncached", requests),
            "cached": series("cached", requests),
        }
    finally:
        meter.restore()
        connections.close_all()


# ----------------------------------------------------------------------------- rounds


def run_rounds(
    args: argparse.Namespace,
    client: str,
    server: api.Server,
    redis_client: redis.Redis,
    token: str,
    expected: dict,
    workdir: Path,
) -> tuple[list[dict], dict]:
    def http(label: str, round_no: int, duration: float) -> dict:
        return run_http(
            args,
            client,
            server,
            redis_client,
            token,
            label,
            round_no,
            duration,
            expected[label],
            workdir,
        )

    def one(label: str, round_no: int, duration: float) -> dict:
        if label == "pgbench":
            return run_pgbench(args, server, redis_client, duration, workdir, round_no)
        return http(label, round_no, duration)

    warmup = {}
    if args.warmup:
        for label in LABELS:
            log(f"Warm-up: {label}, {args.warmup:g} s…")
            warmup[label] = one(label, 0, args.warmup)
    results = []
    for round_no in range(1, args.rounds + 1):
        shift = (round_no - 1) % len(LABELS)
        order = LABELS[shift:] + LABELS[:shift]
        for position, label in enumerate(order, start=1):
            result = one(label, round_no, args.duration)
            result["position"] = position
            results.append(result)
            lat = result["latency_ms"]
            log(
                f"Round {round_no}/{args.rounds} {label:<8}: "
                f"{result['requests_per_second']:>9.1f} /s, p50 {lat['p50']:.2f} ms, "
                f"p99 {lat['p99']:.2f} ms"
                + (
                    f", server CPU {result['cpu_us_per_request']['server']:.0f} µs/req, "
                    f"{next(k for k in result['cache'] if k.endswith('_ratio'))} "
                    f"{next(v for k, v in result['cache'].items() if k.endswith('_ratio')):.4f}"
                    if label != "pgbench"
                    else f", PostgreSQL CPU {result['cpu_us_per_request']['postgres']:.0f} µs/tx"
                )
            )
    return results, warmup


# ----------------------------------------------------------------------------- results


CPU_KEYS = ("server", "postgres", "redis", "load_generator")


def summarize_rows(rows: list[dict], latency_keys: tuple[str, ...]) -> dict:
    """What the rounds of one measurement have in common (means over rounds)."""
    rates = [m["requests_per_second"] for m in rows]

    def mean_of(getter) -> float:
        return round(statistics.fmean(getter(m) for m in rows), 3)

    return {
        "rounds": len(rows),
        "requests_per_second": {
            "mean": round(statistics.fmean(rates), 1),
            "stdev": round(statistics.stdev(rates), 1) if len(rates) > 1 else 0.0,
            "min": min(rates),
            "max": max(rates),
            "per_round": rates,
        },
        "latency_ms_mean_of_rounds": {
            key: mean_of(lambda m, key=key: m["latency_ms"][key]) for key in latency_keys
        },
        "cpu_us_per_request_mean_of_rounds": {
            key: round(mean_of(lambda m, key=key: m["cpu_us_per_request"][key]), 1)
            for key in CPU_KEYS
        },
        "machine_busy_percent_mean": round(mean_of(lambda m: m["machine_busy_percent"]), 1),
        "postgres_other_databases_cpu_seconds": round(
            sum(m["cpu_seconds"]["postgres_other_databases"] for m in rows), 3
        ),
        "disturbed_rounds": {m["round"]: m["disturbances"] for m in rows if m["disturbances"]},
    }


def summarize_http(measurements: list[dict], label: str) -> dict:
    rows = [m for m in measurements if m["path"] == label]
    summary = summarize_rows(rows, ("p50", "p90", "p99", "max"))
    wanted = "miss" if label == "uncached" else "hit"
    total = sum(m["requests"] for m in rows)
    cache = {key: sum(m["cache"][key] for m in rows) for key in ("hit", "miss", "other")}
    cache[f"{wanted}_ratio"] = round(cache[wanted] / max(1, total), 5)
    summary.update(
        requests=total,
        errors=sum(sum(m["errors"].values()) for m in rows),
        cache=cache,
        redis_calls_per_request_mean_of_rounds={
            name: round(statistics.fmean(m["redis_calls_per_request"][name] for m in rows), 3)
            for name in REDIS_COMMANDS
        },
    )
    return summary


def summarize_pgbench(measurements: list[dict]) -> dict:
    rows = [m for m in measurements if m["path"] == "pgbench"]
    summary = summarize_rows(rows, ("average", "p50", "p90", "p99"))
    summary["transactions"] = sum(m["transactions"] for m in rows)
    return summary


def compare(measurements: list[dict], uncached: dict, cached: dict, pgbench: dict) -> dict:
    base = pgbench["requests_per_second"]["mean"]
    ratio = uncached["requests_per_second"]["mean"] / base
    per_round = []
    for round_no in sorted({m["round"] for m in measurements}):
        pair = {m["path"]: m["requests_per_second"] for m in measurements if m["round"] == round_no}
        per_round.append(round(pair["uncached"] / pair["pgbench"], 4))
    return {
        "ratio_uncached_over_pgbench": round(ratio, 4),
        "ratio_per_round": per_round,
        "one_in": round(1 / ratio, 1) if ratio else None,
        "target": f">= 1/25 = {TARGET_RATIO:.2f}",
        "met": ratio >= TARGET_RATIO,
        "uncached_requests_per_second_needed": round(base * TARGET_RATIO, 1),
        "ratio_cached_over_pgbench": round(cached["requests_per_second"]["mean"] / base, 4),
        "ratio_cached_over_uncached": round(
            cached["requests_per_second"]["mean"] / uncached["requests_per_second"]["mean"], 2
        ),
    }


def machine_info(client: str, redis_client: redis.Redis, database_url: str) -> dict:
    info = api.machine_info(client, redis_client, database_url)
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        info["postgresql_settings"] = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in (
                "shared_buffers",
                "work_mem",
                "max_connections",
                "synchronous_commit",
                "autovacuum",
                "jit",
            )
        }
    info["pgbench"] = api.tool_version(["pgbench", "--version"])
    if client == "python":
        info["load_generator"] = "benchmarks/catalog.py _load (httpload.py's loop)"
    return info


def plan_head(plan: str, lines: int = 40) -> str:
    return "\n".join(plan.splitlines()[:lines])


def render_markdown(results: dict) -> str:
    r = results["results"]
    m = results["machine"]
    p = results["parameters"]
    c = r["comparison"]
    rows = []
    for label, title in (
        ("uncached", f"uncached `{LIST_PATH}&{NONCE_PARAM}=<new>`"),
        ("cached", f"cached `{LIST_PATH}`"),
        ("pgbench", f"`pgbench -S -c {p['pgbench_clients']} -j {p['pgbench_jobs']}`"),
    ):
        s = r[label]
        rps = s["requests_per_second"]
        lat = s["latency_ms_mean_of_rounds"]
        cpu = s["cpu_us_per_request_mean_of_rounds"]
        cache = s.get("cache")
        cache_cell = (
            f"{cache['miss']} miss / {cache['hit']} hit / {cache['other']} other" if cache else "-"
        )
        rows.append(
            f"| {title} | {rps['mean']:.1f} ± {rps['stdev']:.1f} | "
            f"{', '.join(f'{v:.0f}' for v in rps['per_round'])} | {lat['p50']:.2f} | "
            f"{lat['p99']:.2f} | {cache_cell} | {cpu['server']:.0f} | {cpu['postgres']:.0f} | "
            f"{cpu['redis']:.0f} | {cpu['load_generator']:.0f} |"
        )
    lines = [
        "# Catalog list benchmark",
        "",
        f"Run {results['started_at']} ({results['duration_seconds']:.0f} s) with "
        f"`{results['command']}`: {r['seed']['products']} products in the tenant, "
        f"{p['rounds']} rounds x {p['duration_seconds']:g} s of each measurement (order "
        f"rotating, after {p['warmup_seconds']:g} s of warm-up each), {p['connections']} HTTP "
        f"connections ({m['load_generator']}) and {p['pgbench_clients']} pgbench clients, one "
        f"uvicorn process, database connections: {api.db_mode(p)}.",
        "",
        "| Measurement | per s, mean ± sd | per round | p50 ms | p99 ms | X-Cache | server CPU "
        "µs/req | PostgreSQL CPU µs/req | Redis CPU µs/req | load generator CPU µs/req |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"**uncached / pgbench = {c['ratio_uncached_over_pgbench']:.4f}** (1 in "
        f"{c['one_in']:.0f}; per round: {', '.join(f'{v:.4f}' for v in c['ratio_per_round'])}); "
        f"target {c['target']}: **{'met' if c['met'] else 'NOT met'}** (it would take "
        f"{c['uncached_requests_per_second_needed']:.0f} uncached requests/s). Cached / "
        f"uncached = {c['ratio_cached_over_uncached']:.1f}x; cached / pgbench = "
        f"{c['ratio_cached_over_pgbench']:.4f}.",
        "",
        render_disturbances(r),
        "",
        "pgbench's per-second figure is transactions/s (one primary-key SELECT each, "
        "persistent connections); its p50/p99 come from a 1 % sample of the transactions. "
        "HTTP latencies are the mean over rounds of each round's percentile, as measured by "
        "the load generator. CPU per request: the server process from /proc; PostgreSQL is "
        "every process of the cluster, exited backends included (the postmaster's reaped "
        "children), less the live backends of other databases ("
        + ", ".join(
            f"{label} {r[label]['postgres_other_databases_cpu_seconds']:.1f} s" for label in LABELS
        )
        + " over all rounds: other work on the machine); Redis is the whole server. "
        "Machine busy: uncached "
        f"{r['uncached']['machine_busy_percent_mean']:.0f} %, cached "
        f"{r['cached']['machine_busy_percent_mean']:.0f} %, pgbench "
        f"{r['pgbench']['machine_busy_percent_mean']:.0f} % of all CPUs. Redis calls per request "
        "(server-wide, the throttle script's own 2 GET + 2 SET included): "
        + "; ".join(
            f"{label} "
            + ", ".join(
                f"{n.upper()} {v:.2f}"
                for n, v in r[label]["redis_calls_per_request_mean_of_rounds"].items()
            )
            for label in ("uncached", "cached")
        )
        + ".",
        "",
        *render_breakdown(r.get("breakdown")),
        *render_plans(r["sql"]),
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"{m['postgresql'].split(' on ')[0]} (shared_buffers "
        f"{m['postgresql_settings']['shared_buffers']}), Redis {m['redis_server']}, Python "
        f"{m['python']}, Django {m['packages']['django']}, uvicorn {m['packages']['uvicorn']} "
        f"(uvloop {m['packages']['uvloop']}, httptools {m['packages']['httptools']}), "
        f"{m['pgbench']}; load average {m['load_average_1_5_15_at_start'][0]} at start, "
        f"{m['load_average_1_5_15_at_end'][0]} at end. The load generators (wrk or pgbench) "
        f"run on the same {m['nproc']} CPUs as the server, PostgreSQL and Redis. Git "
        f"{(results['git']['commit'] or 'unknown')[:12]}"
        f"{' (uncommitted changes)' if results['git']['dirty'] else ''}.",
        "",
    ]
    return "\n".join(lines)


def disturbed(r: dict) -> list[str]:
    return [
        f"{label} round {round_no}: {'; '.join(items)}"
        for label in LABELS
        for round_no, items in r[label]["disturbed_rounds"].items()
    ]


def render_disturbances(r: dict) -> str:
    found = disturbed(r)
    if not found:
        return (
            "**Other work on the machine during the rounds: none detected** (no busy backend "
            "of another database, no Redis traffic but the server's own)."
        )
    return (
        "**Other work on the machine during the rounds: detected**, so these rounds' figures "
        "are less reliable: " + "; ".join(found) + "."
    )


def render_breakdown(breakdown: dict | None) -> list[str]:
    if not breakdown:
        return []
    miss, hit = breakdown["uncached"], breakdown["cached"]
    rows = []
    for name in dict.fromkeys([*miss["components"], *hit["components"]]):
        cells = []
        for side in (miss, hit):
            comp = side["components"].get(name)
            cells.append(
                f"{comp['calls_per_request']:g} | {comp['wall_us']:.0f} | {comp['cpu_us']:.0f}"
                if comp
                else "- | - | -"
            )
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return [
        f"Where the time goes ({miss['requests']} sequential in-process requests each, "
        "`django.test.Client`, no HTTP): per request, uncached "
        f"{miss['wall_us_per_request']:.0f} µs wall / {miss['process_cpu_us_per_request']:.0f} "
        f"µs CPU, cached {hit['wall_us_per_request']:.0f} µs / "
        f"{hit['process_cpu_us_per_request']:.0f} µs. The test client keeps the database "
        "connection open between requests (Django disconnects `close_old_connections` in it), "
        "so unlike the server's requests these open no connection of their own.",
        "",
        "| Component | uncached calls/req | wall µs | CPU µs | cached calls/req | wall µs | "
        "CPU µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Components nest (the SQL is inside pagination and the JWT check; cache.get inside "
        "the routing and the view).",
        "",
    ]


def render_plans(sql: dict) -> list[str]:
    lines = ["Queries of a miss, and their plans (`EXPLAIN (ANALYZE, BUFFERS)`, warm):", ""]
    for label, page in sql.items():
        lines.append(
            f"* **{label}**: {len(page['queries_on_miss'])} queries on a miss, "
            f"{len(page['queries_on_hit'])} on a hit."
        )
        for item in page["list_queries_explained"]:
            runs = ", ".join(f"{t:.2f}" for t in item["execution_ms_runs"] if t is not None)
            lines += [
                "",
                f"  Execution time (ms, 3 runs): {runs}",
                "",
                "  ```sql",
                f"  {item['sql']}",
                "  ```",
                "",
                "  ```",
                *(f"  {line}" for line in plan_head(item["plan"]).splitlines()),
                "  ```",
            ]
        lines.append("")
    return lines


def print_summary(results: dict) -> None:
    r = results["results"]
    print()
    for label in LABELS:
        s = r[label]
        rps = s["requests_per_second"]
        lat = s["latency_ms_mean_of_rounds"]
        cache = s.get("cache", {})
        print(
            f"{label:<9} {rps['mean']:>9.1f} /s (sd {rps['stdev']:.1f}; rounds "
            f"{', '.join(f'{v:.0f}' for v in rps['per_round'])}), p50 {lat['p50']:.2f} ms, "
            f"p99 {lat['p99']:.2f} ms" + (f", X-Cache {cache}" if cache else "")
        )
    c = r["comparison"]
    print(
        f"\n{'met ' if c['met'] else 'MISS'}  uncached / pgbench = "
        f"{c['ratio_uncached_over_pgbench']:.4f} (1 in {c['one_in']}; rounds "
        f"{', '.join(f'{v:.4f}' for v in c['ratio_per_round'])}), target {c['target']}\n"
    )
    print(render_disturbances(r).replace("**", "") + "\n")


# ----------------------------------------------------------------------------- Python loader


class HeaderTap:
    """A reader for ``httpload.read_response`` that notes the ``X-Cache`` header it reads."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.x_cache = "other"

    async def readline(self) -> bytes:
        line = await self.reader.readline()
        if line[:8].lower() == b"x-cache:":
            self.x_cache = line[8:].strip().decode("latin-1")
        return line

    async def readexactly(self, n: int) -> bytes:
        return await self.reader.readexactly(n)


async def python_load(args: argparse.Namespace) -> dict:
    """``httpload.run`` with a new ``bench_nonce`` per request when asked, and X-Cache counts.

    A copy of httpload.py's connection loop (which sends one fixed request), changed only in
    those two ways; parsing (build_request, read_response) and percentiles are httpload's.
    """
    url = nonce_url(args.url, "NONCE__") if args.nonce_prefix else args.url
    host, port, template = build_request(url, args.header)
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    cache = {"hit": 0, "miss": 0, "other": 0}
    total_bytes = 0
    started = time.perf_counter()
    deadline = started + args.duration

    async def connection_loop(number: int) -> None:
        nonlocal total_bytes
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), args.timeout
            )
        except (OSError, TimeoutError):
            errors["connect"] += 1
            return
        tap, counter = HeaderTap(reader), 0
        try:
            while time.perf_counter() < deadline:
                counter += 1
                request = (
                    template.replace(b"NONCE__", f"{args.nonce_prefix}-{number}-{counter}".encode())
                    if args.nonce_prefix
                    else template
                )
                sent = time.perf_counter()
                try:
                    writer.write(request)
                    await writer.drain()
                except OSError:
                    errors["write"] += 1
                    return
                tap.x_cache = "other"
                try:
                    status, size = await asyncio.wait_for(read_response(tap), args.timeout)
                except TimeoutError:
                    errors["timeout"] += 1
                    return
                except (OSError, ValueError, ConnectionError, asyncio.IncompleteReadError):
                    errors["read"] += 1
                    return
                latencies.append(time.perf_counter() - sent)
                total_bytes += size
                cache[tap.x_cache if tap.x_cache in cache else "other"] += 1
                if status != 200:
                    errors["status"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection_loop(n) for n in range(1, args.connections + 1)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    us = 1_000_000
    return {
        "requests": len(ordered),
        "duration_us": round(elapsed * us),
        "bytes": total_bytes,
        "errors": errors,
        "latency_us": {
            "p50": round(percentile(ordered, 0.50) * us),
            "p90": round(percentile(ordered, 0.90) * us),
            "p99": round(percentile(ordered, 0.99) * us),
            "max": round(ordered[-1] * us) if ordered else None,
            "mean": round(sum(ordered) / len(ordered) * us, 1) if ordered else None,
        },
        "cache": cache,
    }


def load_main(argv: list[str]) -> int:
    """``catalog.py _load …``: the Python load generator; prints one BENCH_JSON line."""
    parser = argparse.ArgumentParser(prog="catalog.py _load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--nonce-prefix", default="")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        summary = asyncio.run(python_load(args))
    else:
        summary = uvloop.run(python_load(args))
    print("BENCH_JSON " + json.dumps(summary), flush=True)
    return 0


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_load"]:
        return load_main(argv[1:])
    args = parse_args(argv)
    client = api.pick_client(args.client)
    if not shutil.which("pgbench"):
        raise BenchmarkError("pgbench is not installed (apt-get install postgresql-contrib).")
    configure_environment(args)
    command = shlex.join([".venv/bin/python", "benchmarks/catalog.py", *argv])
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]

    redis_client = claim_redis_db(args.redis_url, REDIS_MARKER_KEY)
    names = [api.database_name(args.database_url), api.database_name(args.pgbench_database_url)]
    log(f"Creating databases {names[0]!r} and {names[1]!r}…")
    api.drop_database(args.database_url, create_again=True)
    server = None
    django_ready = False
    try:
        with tempfile.TemporaryDirectory(prefix="atrium-bench-catalog-") as tmp:
            workdir = Path(tmp)
            log("tenants migrate, tenants create bench (CLI)…")
            tenant = provision()
            import django

            django.setup()
            django_ready = True
            log(f"Seeding {args.products} products…")
            seed = seed_catalog(args.products)
            log(
                f"Seeded {seed['products']} products, {seed['reviews']} reviews in "
                f"{seed['seconds']} s (+ VACUUM ANALYZE {seed['vacuum_analyze_seconds']} s)."
            )
            log(f"pgbench -i -s {args.pgbench_scale}…")
            pgbench_setup = pgbench_init(args)
            server = api.Server({"user_id": ""}, workdir)
            log(f"Starting uvicorn on 127.0.0.1:{server.port}…")
            server.wait_ready()
            token = api.login(server, tenant["password"])
            verified = check_endpoint(server, token, args.products)
            log("Checks passed; SQL and plans of a miss (page 1, last page)…")
            sql = explain_list(token, args.products)
            log(f"Load generator: {client}, {args.connections} connections.")
            measurements, warmup = run_rounds(
                args, client, server, redis_client, token, verified["response_bytes"], workdir
            )
            machine = machine_info(client, redis_client, args.database_url)
            exit_code = server.stop()
            server_log = server.log_path.read_text(encoding="utf-8", errors="replace")
            breakdown = None
            if args.breakdown_requests:
                log(f"Breakdown: {args.breakdown_requests} in-process requests per case…")
                breakdown = breakdown_in_process(token, args.breakdown_requests)
            redis_memory = redis_client.info("memory").get("used_memory_human")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"Kept databases {names} and Redis {args.redis_url}.")
        else:
            if django_ready:
                from django.db import connections

                connections.close_all()
            api.drop_database(args.database_url)
            api.drop_database(args.pgbench_database_url)
            redis_client.flushdb()
            log(f"Dropped databases {names}, flushed {args.redis_url}.")

    try:
        uncached = summarize_http(measurements, "uncached")
        cached = summarize_http(measurements, "cached")
        pgbench = summarize_pgbench(measurements)
    except Exception:
        # Minutes of measurements are not lost to a bug in the reporting.
        dump = Path(tempfile.gettempdir()) / "atrium-bench-catalog-measurements.json"
        dump.write_text(json.dumps({"warmup": warmup, "measurements": measurements}, indent=2))
        log(f"Summarizing failed; the measurements are in {dump}")
        raise
    results = {
        "benchmark": "catalog",
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 1),
        "parameters": {
            "products": args.products,
            "duration_seconds": args.duration,
            "rounds": args.rounds,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "client": client,
            "pgbench_clients": args.pgbench_clients,
            "pgbench_jobs": args.pgbench_jobs,
            "pgbench_scale": args.pgbench_scale,
            "db_conn_max_age": args.db_conn_max_age,
            "db_pool": args.db_pool,
            "breakdown_requests": args.breakdown_requests,
            "database": api.database_name(args.database_url),
            "pgbench_database": api.database_name(args.pgbench_database_url),
            "redis_url": args.redis_url,
            "settings": SETTINGS_MODULE,
            "server_command": shlex.join(["python", *server.command[1:]]),
            "host_header": HOST,
            "cached_path": LIST_PATH,
            "uncached_path": nonce_url(LIST_PATH, "<prefix>-<connection>-<n>"),
            "min_cache_ratio": MIN_CACHE_RATIO,
        },
        "git": api.git_state(),
        "tenant": {"slug": TENANT_SLUG, "schema": tenant["schema"], "plan": tenant["plan"]},
        "checks": verified["checks"],
        "response_bytes": verified["response_bytes"],
        "response_body_bytes": verified["response_body_bytes"],
        "response_headers": verified["response_headers"],
        "server": {
            "exit_code": exit_code,
            "log_lines": [line for line in server_log.splitlines() if line.strip()][-50:],
        },
        "redis_used_memory_at_end": redis_memory,
        "results": {
            "uncached": uncached,
            "cached": cached,
            "pgbench": pgbench,
            "comparison": compare(measurements, uncached, cached, pgbench),
            "quiet": not disturbed({"uncached": uncached, "cached": cached, "pgbench": pgbench}),
            "seed": seed,
            "pgbench_setup": pgbench_setup,
            "sql": sql,
            "breakdown": breakdown,
            "warmup": warmup,
            "measurements": measurements,
        },
        "machine": {**machine, "load_average_1_5_15_at_start": load_at_start},
    }
    # A pooled run answers another question than the default one: it gets files of its own.
    name = "catalog" if args.db_pool else "catalog-nopool"
    api.write_atomically(args.results_dir / f"{name}.json", json.dumps(results, indent=2) + "\n")
    api.write_atomically(args.results_dir / f"{name}.md", render_markdown(results))
    print_summary(results)
    log(f"Results in {args.results_dir}/{name}.json and {name}.md")
    if args.check and not results["results"]["comparison"]["met"]:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        print(f"catalog benchmark: {exc}", file=sys.stderr)
        sys.exit(2)
