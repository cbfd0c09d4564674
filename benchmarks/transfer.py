#!/usr/bin/env python
"""Whole-tenant export and import: ``tenants export`` and ``tenants import`` of a tenant with
``--products`` products (and reviews) and ``--files`` files of ``--file-mb`` MiB of random
bytes, in seconds; and the tenant's API while it is exported, against idle.

* **export, alone**: ``manage.py tenants export bench --output <dir>/bench.tar`` (a plain
  tar: random bytes do not compress), timed as an operator runs it;
* **API idle / during export**: the uncached product list
  (``GET /api/v1/catalog/products/?page_size=20`` with a fresh ``bench_nonce`` per request,
  so every request misses the cache and reads PostgreSQL) from ``--connections`` keep-alive
  clients, first with nothing else running, then while a second export runs (the window is
  90 % of the first export's time, so it lies inside the export); p50/p99 of each;
* **import**: ``manage.py tenants import <archive> --slug bench-restored``, timed, then the
  restored tenant's product count is checked.

    .venv/bin/python benchmarks/transfer.py                       # 100,000 products, 1 GiB
    .venv/bin/python benchmarks/transfer.py --products 5000 --files 50 --results-dir /tmp/b
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import harness  # noqa: E402
from benchmarks.harness import BenchmarkError, log, table, target  # noqa: E402
from benchmarks.httpload import measure  # noqa: E402

HOST = "bench.localhost"
LIST_PATH = "/api/v1/catalog/products/?page_size=20"

parser = harness.options(__doc__, database="atrium_bench_transfer", redis_db=11)
parser.add_argument("--products", type=int, default=100_000)
parser.add_argument("--files", type=int, default=1000)
parser.add_argument("--file-mb", type=float, default=1.0, help="MiB per file")
parser.add_argument("--connections", type=int, default=4)
parser.add_argument("--idle-seconds", type=float, default=15.0)
MEDIA_ROOT = tempfile.mkdtemp(prefix="atrium-bench-transfer-media-")
args, run = harness.start(
    parser,
    "transfer",
    "Whole-tenant export and import",
    "benchmarks.settings_catalog",  # rate limits no request reaches
    MEDIA_ROOT=MEDIA_ROOT,
    ATRIUM_STORAGE="filesystem",
    DB_POOL="1",
)

from django.db import connection, transaction  # noqa: E402
from django.utils.text import slugify  # noqa: E402

from atrium.apps.catalog import services  # noqa: E402
from atrium.apps.catalog.models import Product, Review  # noqa: E402
from atrium.platform.accounts.models import User  # noqa: E402
from atrium.tenants.context import public_scope, tenant_scope  # noqa: E402
from atrium.tenants.models import Tenant  # noqa: E402


def seed(products: int) -> dict:
    """Products and reviews by ``bulk_create`` in one tenant; files of random bytes written
    straight into its storage folder."""
    rng = random.Random(20261207)
    with public_scope():
        tenant = Tenant.objects.get(slug="bench")
    with tenant_scope(tenant):
        owner = User.objects.get(email="owner@bench.test")
        categories = [services.category_create(name=f"Category {i}") for i in range(10)]
        rows = [
            Product(
                name=f"Product {n}",
                slug=slugify(f"product-{n}"),
                sku=f"BEN-{n:06d}",
                description="Seeded for the transfer benchmark. " * rng.randint(1, 6),
                price=Decimal(rng.randint(100, 99_999)) / 100,
                stock=rng.choice([0, 3, 100]),
                status="active",
                category=rng.choice(categories),
                owner=owner,
                tags=["bench", f"t{n % 17}"],
            )
            for n in range(products)
        ]
        with transaction.atomic():
            Product.objects.bulk_create(rows, batch_size=2000)
        reviews = [
            Review(product=p, author=owner, rating=rng.randint(1, 5), title="Seeded")
            for p in rows
            if rng.random() < 0.3
        ]
        Review.objects.bulk_create(reviews, batch_size=2000)
        services.product_stats_recompute()
    folder = Path(MEDIA_ROOT) / tenant.schema_name / "uploads"
    folder.mkdir(parents=True)
    size = int(args.file_mb * 1024 * 1024)
    for n in range(args.files):
        (folder / f"file-{n:05d}.bin").write_bytes(os.urandom(size))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    connection.close()
    return {
        "products": products,
        "reviews": len(reviews),
        "files": args.files,
        "file_bytes": args.files * size,
    }


def cli(*arguments: str) -> dict:
    """A ``tenants`` subcommand with ``--json``: its own figures plus the wall clock."""
    result = harness.manage("tenants", *arguments, "--json")
    figures = json.loads(result.stdout)
    log(f"tenants {arguments[0]}: {figures['seconds']} s ({result.seconds:.1f} s wall clock)")
    return {**figures, "wall_seconds": result.seconds}


def wait_for_export(path: Path) -> None:
    """Until the export is under way (pg_dump connected, or the archive being written):
    manage.py itself takes seconds to start on a busy machine."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dump'")
            if cursor.fetchone() or path.with_name(path.name + ".partial").exists():
                return
        time.sleep(0.05)
    raise BenchmarkError("the export did not start")


def export(path: Path) -> dict:
    return cli("export", "bench", "--output", str(path))


def main() -> int:
    try:
        tenant = harness.bench_tenant()
        log(f"seeding {args.products} products and {args.files} files")
        seeded = seed(args.products)
        archive_path = run.workdir / "bench.tar"
        log("export, alone")
        export_alone = export(archive_path)
        archive_bytes = archive_path.stat().st_size
        with harness.server(run.env) as server:
            token = server.login(HOST, tenant["email"], tenant["password"])
            headers = {"Host": HOST, "Authorization": f"Bearer {token}"}

            def load(seconds: float, nonce: str) -> dict:
                result = measure(
                    server.port,
                    LIST_PATH,
                    headers,
                    connections=args.connections,
                    duration=seconds,
                    nonce=nonce,
                    pid=server.pid,
                )
                if result["errors"]:
                    raise BenchmarkError(f"{nonce}: {result['errors']}")
                return result

            load(3, "warmup")
            log("API, idle")
            idle = load(args.idle_seconds, "idle")
            log("API, during an export")
            second = run.workdir / "bench-2.tar"
            timing: dict = {}
            exporter = threading.Thread(target=lambda: timing.update(export(second)))
            exporter.start()
            wait_for_export(second)
            during = load(max(2.0, export_alone["seconds"] * 0.9), "during")
            exporter.join()
            second.unlink()
        log("import")
        imported = cli("import", str(archive_path), "--slug", "bench-restored")
        with public_scope():
            restored = Tenant.objects.get(slug="bench-restored")
        with tenant_scope(restored):
            if Product.objects.count() != args.products:
                raise BenchmarkError("the restored tenant does not have every product")
        restored_files = sum(
            1 for p in (Path(MEDIA_ROOT) / restored.schema_name).rglob("*") if p.is_file()
        )
        if restored_files != args.files:
            raise BenchmarkError(f"{restored_files} files restored of {args.files}")
    finally:
        run.close()
        subprocess.run(["rm", "-rf", MEDIA_ROOT], check=False)

    gib = seeded["file_bytes"] / 1024**3
    mib = archive_bytes / 1024**2
    timings = [
        [step, round(r["seconds"], 1), round(mib / r["seconds"]), round(r["wall_seconds"], 1)]
        for step, r in (
            ("export, alone", export_alone),
            ("export, under API load", timing),
            ("import", imported),
        )
    ]
    latency = [
        [
            label,
            r["requests"],
            r["per_second"],
            r["latency"]["p50_ms"],
            r["latency"]["p99_ms"],
            r["latency"]["max_ms"],
        ]
        for label, r in (("idle", idle), ("during the export", during))
    ]
    ratio = during["latency"]["p99_ms"] / idle["latency"]["p99_ms"]
    return run.finish(
        tables=[
            table(
                "Tenant",
                "products | reviews | files | file bytes | archive bytes",
                [
                    [
                        seeded["products"],
                        seeded["reviews"],
                        seeded["files"],
                        seeded["file_bytes"],
                        archive_bytes,
                    ]
                ],
            ),
            table(
                "Transfer (the command's own time; wall clock adds manage.py's start)",
                "step | seconds | MiB/s of archive | wall clock s",
                timings,
            ),
            table(
                f"Uncached product list, {args.connections} connections",
                "when | requests | req/s | p50 ms | p99 ms | max ms",
                latency,
            ),
        ],
        targets=[
            target("API errors during the export", sum(during["errors"].values()), "<=", 0),
            target("p99 during the export / idle p99", round(ratio, 2), "<=", 3.0),
        ],
        notes=[
            f"One tenant with {seeded['products']:,} products and {gib:.2f} GiB of files "
            "(random bytes) on the local filesystem storage; a plain tar archive. Export: "
            "pg_dump of the schema in one exported snapshot, then the files; import: "
            "pg_restore into a staging schema, files copied, one transaction renames it.",
        ],
        seed=seeded,
        export=export_alone,
        export_under_load=timing,
        import_=imported,
        idle=idle,
        during_export=during,
    )


if __name__ == "__main__":
    sys.exit(main())
