#!/usr/bin/env python
"""Catalog list: ``GET /api/v1/catalog/products/?page_size=20`` with a JWT, uncached and
cached, against ``pgbench -S`` on the same PostgreSQL, with ``--products`` in one tenant.

* **uncached**: every request adds ``bench_nonce=<new value>``, a parameter nothing in the
  view reads, so the cache key (the full URL) is new and every request misses, doing what a
  real miss does (routing, JWT, throttles, cache GETs, count and page queries, serializer,
  cache SET); at least 99 % of the answers must say ``X-Cache: miss``;
* **cached**: ``?page_size=20`` over and over (at least 99 % ``X-Cache: hit``);
* **pgbench**: ``pgbench -S`` (one primary-key SELECT per transaction), same client count.

The three run in rounds whose order rotates. Target: uncached req/s ≥ 1/25 of pgbench's tps.

    .venv/bin/python benchmarks/catalog.py                                   # full run, ~4 min
    .venv/bin/python benchmarks/catalog.py --products 2000 --duration 3 --rounds 1 --warmup 1 \\
        --results-dir /tmp/bench                                             # smoke run
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import BenchmarkError, log, table, target
from benchmarks.httpload import measure

HOST, LIST_PATH = "bench.localhost", "/api/v1/catalog/products/?page_size=20"
TARGET = 1 / 25
NOUNS = ["Rocket", "Anvil", "Magnet", "Skates", "Lamp", "Drone", "Desk", "Kettle", "Tent", "Bike"]
TAGS = ["new", "sale", "bestseller", "eco", "heavy", "fragile", "gift", "outdoor", "kids", "pro"]
CATEGORIES = {"Outdoor": ["Camping", "Garden"], "Home": ["Kitchen", "Lighting"], "Toys": []}
CATEGORIES.update(Tools=["Power tools", "Hand tools"], Office=["Desks"])


parser = harness.options(__doc__, database="atrium_bench_catalog", redis_db=6)
parser.add_argument("--products", type=int, default=10000)
parser.add_argument("--duration", type=float, default=20, help="seconds per measurement")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--warmup", type=float, default=5)
parser.add_argument("--connections", type=int, default=4, help="HTTP and pgbench clients")
parser.add_argument("--pgbench-jobs", type=int, default=2)
parser.add_argument("--pgbench-scale", type=int, default=10)
pgbench_url = "postgres://postgres@127.0.0.1/atrium_bench_pgbench"
parser.add_argument("--pgbench-database-url", default=pgbench_url)
settings = "benchmarks.settings_catalog"
args, run = harness.start(parser, "catalog", "Catalog list", settings, DB_POOL="1")  # Django up

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.text import slugify  # noqa: E402

from atrium.apps.catalog import services  # noqa: E402
from atrium.apps.catalog.models import Product, ProductStatus, Review  # noqa: E402
from atrium.platform.accounts import services as accounts  # noqa: E402
from atrium.platform.accounts.models import User  # noqa: E402
from atrium.tenants.context import public_scope, tenant_scope  # noqa: E402
from atrium.tenants.models import Tenant  # noqa: E402


def seed(products: int) -> dict:
    """Categories and members through the services; products and reviews by ``bulk_create``
    (``full_clean`` per row; constraints left to the database), ``created_at`` spread over
    the past year; review stats by ``product_stats_recompute``; then ``VACUUM (ANALYZE)``.
    The per-row services would add slug checks, cache bumps and events the list never reads."""
    rng = random.Random(20261124)
    with public_scope():
        tenant = Tenant.objects.get(slug="bench")
    with tenant_scope(tenant):
        owner = User.objects.get(email="owner@bench.test")
        members = [owner] + [
            accounts.user_create(actor=owner, email=f"m{i}@bench.test", name=f"Member {i}").user
            for i in range(1, 10)
        ]
        categories = []
        for top, children in CATEGORIES.items():
            categories.append(parent := services.category_create(name=top))
            categories += [services.category_create(name=c, parent=parent) for c in children]
        statuses = [ProductStatus.ACTIVE] * 8 + [ProductStatus.DRAFT, ProductStatus.ARCHIVED]
        rows = []
        for n in range(products):
            name = f"{rng.choice(NOUNS)} {n + 1}"
            product = Product(
                name=name,
                slug=slugify(name),
                sku=f"BEN-{n + 1:06d}",
                description=" ".join(rng.choices(TAGS, k=rng.randint(5, 25))),
                price=Decimal(rng.randint(100, 99_999)) / 100,
                stock=rng.choice([0, 3, 100]),
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
            with connection.cursor() as cursor:  # one product every ~47 minutes, newest last
                cursor.execute(
                    f"UPDATE {table} AS p SET created_at = %s - s.n * interval '47 minutes' "
                    f"FROM (SELECT id, row_number() OVER (ORDER BY sku DESC) AS n FROM {table}) "
                    "AS s WHERE p.id = s.id",
                    [timezone.now()],
                )
        reviews = [
            Review(product=p, author=a, rating=rng.randint(1, 5), title="Seeded", body="Bench.")
            for p in rows
            if rng.random() < 0.3
            for a in rng.sample(members, rng.randint(1, 3))
        ]
        Review.objects.bulk_create(reviews, batch_size=2000)
        if services.product_stats_recompute() != products:
            raise BenchmarkError("the review stats were not recomputed for every product")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    connection.close()
    return {"products": products, "categories": len(categories), "reviews": len(reviews)}


def check(server, token: str, products: int) -> None:
    """Seeded count, newest first; miss then hit with the same JSON; the nonce misses and
    changes nothing else; throttled, nothing refused; 401 without a token; 404 elsewhere."""
    first = server.get(HOST, LIST_PATH, token=token)
    second = server.get(HOST, LIST_PATH, token=token)
    nonce = server.get(HOST, f"{LIST_PATH}&bench_nonce=check", token=token)
    no_token = server.get(HOST, LIST_PATH).status_code
    foreign = server.get("nope.localhost", LIST_PATH, token=token).status_code
    body, x_cache = first.json(), [r.headers.get("X-Cache") for r in (first, second, nonce)]
    created = [row["created_at"] for row in body["results"]]
    checks = {
        "count is the products seeded, 20 a page": body["count"] == products and len(created) == 20,
        "newest first": created == sorted(created, reverse=True),
        "miss, hit, and the nonce misses": x_cache == ["miss", "hit", "miss"],
        "the hit and the nonce give the same results": second.json() == body
        and nonce.json()["results"] == body["results"],
        "throttled, nothing refused": first.headers.get("RateLimit-Limit") == "1000000000",
        "401 without a token, 404 on an unknown host": (no_token, foreign) == (401, 404),
    }
    if failed := [name for name, ok in checks.items() if not ok]:
        raise BenchmarkError(f"checks failed: {failed}")


def pgbench(args, duration: float) -> dict:
    """``pgbench -S`` on its own database: transactions per second, average latency."""
    clients = ("-c", str(args.connections), "-j", str(args.pgbench_jobs))
    command = pgbench_args(args, "-S", *clients, "-T", str(max(1, round(duration))))
    done = subprocess.run(command, capture_output=True, text=True)
    tps = re.search(r"^tps = ([\d.]+)", done.stdout, re.M)
    latency = re.search(r"^latency average = ([\d.]+) ms", done.stdout, re.M)
    if done.returncode or not tps:
        raise BenchmarkError(f"pgbench failed: {done.stdout}{done.stderr}")
    return {"per_second": float(tps[1]), "latency_average_ms": float(latency[1])}


def pgbench_args(args, *options: str) -> list[str]:
    url = urlsplit(args.pgbench_database_url)
    where = ["-h", url.hostname, "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    return ["pgbench", *options, *where, url.path.lstrip("/")]


def main() -> int:
    harness.recreate_database(args.pgbench_database_url)
    try:
        tenant = harness.bench_tenant()
        log(f"seeding {args.products} products")
        seeded = seed(args.products)
        init = pgbench_args(args, "-i", "-q", "-s", str(args.pgbench_scale))
        subprocess.run(init, check=True, capture_output=True)
        with harness.server(run.env) as server:
            token = server.login(HOST, tenant["email"], tenant["password"])
            check(server, token, args.products)
            headers = {"Host": HOST, "Authorization": f"Bearer {token}"}

            def one(label: str, seconds: float, round_no: int) -> dict:
                if label == "pgbench":
                    return pgbench(args, seconds)
                nonce = f"r{round_no}" if label == "uncached" else ""
                result = measure(
                    server.port,
                    LIST_PATH,
                    headers,
                    connections=args.connections,
                    duration=seconds,
                    nonce=nonce,
                    pid=server.pid,
                )
                wanted = result["cache"]["miss" if label == "uncached" else "hit"]
                # the warm-up (round 0) fills the cache: 4 connections miss at once
                if any(result["errors"].values()) or (
                    round_no and wanted < 0.99 * result["requests"]
                ):
                    raise BenchmarkError(f"{label}: {result['errors']}, X-Cache {result['cache']}")
                return result

            labels = ["uncached", "cached", "pgbench"]
            rounds = harness.rounds(one, labels, args.rounds, args.warmup, args.duration)
    finally:
        run.close(args.pgbench_database_url)

    summary, rows = {"seed": seeded}, []
    for label, results in rounds.items():
        rate = harness.spread([r["per_second"] for r in results])
        per_round = ", ".join(f"{v:,.0f}" for v in rate["rounds"])
        if label == "pgbench":
            summary[label] = {"per_second": rate}
            latency = harness.mean(results, "latency_average_ms", digits=3)
            rows.append(
                [
                    "`pgbench -S`",
                    f"{rate['mean']:,.0f} ± {rate['sd']:,.0f} tps",
                    per_round,
                    f"{latency} (mean)",
                    "-",
                    "-",
                ]
            )
            continue
        s = summary[label] = {
            "per_second": rate,
            "p50_ms": harness.mean(results, "latency", "p50_ms"),
            "p99_ms": harness.mean(results, "latency", "p99_ms"),
            "server_cpu_us": harness.mean(results, "server_cpu_us", digits=0),
            "x_cache": {k: sum(r["cache"][k] for r in results) for k in ("miss", "hit")},
        }
        path = f"`{LIST_PATH}{'&bench_nonce=…' if label == 'uncached' else ''}`"
        rows.append(
            [
                f"{label} {path}",
                f"{rate['mean']:.1f} ± {rate['sd']:.1f} req/s",
                per_round,
                f"{s['p50_ms']} / {s['p99_ms']}",
                s["server_cpu_us"],
                " / ".join(f"{k} {v}" for k, v in s["x_cache"].items()),
            ]
        )
    cached = summary["cached"]["per_second"]["mean"]
    ratio = summary["uncached"]["per_second"]["mean"] / summary["pgbench"]["per_second"]["mean"]
    return run.finish(
        summary=summary,
        notes=[
            f"{args.products} products; rounds: {args.rounds} x {args.duration:g} s of each "
            f"(order rotating, after {args.warmup:g} s of warm-up), {args.connections} HTTP "
            f"connections (`benchmarks/httpload.py`) and {args.connections} pgbench clients, "
            "one uvicorn process, psycopg's pool.",
            f"**uncached / pgbench = {ratio:.4f}** (1 in {1 / ratio:,.0f}); cached / uncached = "
            f"{cached / summary['uncached']['per_second']['mean']:.1f}x.",
        ],
        tables=[
            table(
                "",
                (
                    "Measurement | per s, mean ± sd | per round | p50 / p99 ms"
                    " | server CPU µs/req | X-Cache"
                ),
                rows,
            )
        ],
        targets=[target("uncached req/s / pgbench tps", ratio, ">=", TARGET)],
    )


if __name__ == "__main__":
    sys.exit(main())
