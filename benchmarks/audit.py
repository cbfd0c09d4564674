#!/usr/bin/env python
"""Audit log: the newest page of ``GET /api/v1/audit-events/`` costs the same few queries and
stays under 20 ms whether the tenant's log holds 1,000 entries or 1,000,000.

Two tenants, whose logs are filled with ``INSERT … SELECT … FROM generate_series`` in their
schemas (one statement per 100,000 rows, then ``ANALYZE``): ``--small`` entries in one,
``--large`` in the other. Each case is requested ``--n`` times (after ``--warmup``) in each
tenant, the two alternating request by request (so the machine's load hits both alike),
through the whole Django stack in this process (Django's test client, a real JWT, every
middleware), alternating with the listing alone (the filters' validation, the cursor
paginator and the page PostgreSQL renders: the view's own work, without HTTP), each timed
with ``time.perf_counter()``; the SQL statements of one request are counted. Cases: the
newest page of 50; a page 50 deep in the cursor (at the middle of the log); the newest 50
of one action; the newest of one target. ``--profile`` prints cProfile's view of the
newest page, a cursor page and a filtered one instead (where a page's time goes).

    .venv/bin/python benchmarks/audit.py                       # full run (1,000,000 entries)
    .venv/bin/python benchmarks/audit.py --large 100000 --n 50 --results-dir /tmp/bench
    .venv/bin/python benchmarks/audit.py --profile --large 20000 --n 200
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import LATENCY, latency_cells, log, summary_ms, table, target

parser = harness.options(__doc__, database="atrium_bench_audit", redis_db=9)
parser.add_argument("--small", type=int, default=1_000, help="entries of the first size")
parser.add_argument("--large", type=int, default=1_000_000, help="entries of the second size")
parser.add_argument("--n", type=int, default=300, help="timed requests per case and size")
parser.add_argument("--warmup", type=int, default=30, help="untimed requests per case")
parser.add_argument("--page-size", type=int, default=50)
parser.add_argument(
    "--profile",
    action="store_true",
    help="instead of measuring: cProfile the newest page (request and listing) at the large "
    "size, --n times each, and print where the time goes",
)
args, run = harness.start(
    parser, "audit", "Audit log listing", settings="benchmarks.settings_catalog"
)  # sets Django up

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.test import APIRequestFactory  # noqa: E402

from atrium.platform.accounts.models import User  # noqa: E402
from atrium.platform.accounts.tokens import token_pair_issue  # noqa: E402
from atrium.platform.audit import selectors  # noqa: E402
from atrium.platform.audit.actions import ACTIONS  # noqa: E402
from atrium.platform.audit_api.pagination import AuditCursorPagination  # noqa: E402
from atrium.platform.audit_api.serializers import (  # noqa: E402
    audit_filters,
    rendered_statement,
)
from atrium.tenants.context import tenant_scope  # noqa: E402
from atrium.tenants.models import Tenant  # noqa: E402

URL = "/api/v1/audit-events/"
BATCH = 100_000
FACTORY = APIRequestFactory()
TARGET_MS = 20.0
FILL_ACTIONS = [name for name in ACTIONS if name.split(".")[0] in ("product", "auth", "user")]

# One statement per batch: ``n`` rows whose time goes back one second per row from the
# newest entry written so far (so every batch is older than the previous one), rotating
# through the actions and 5,000 targets.
FILL_SQL = """
INSERT INTO audit_auditevent (id, at, actor_type, actor_id, actor_label, action, target_type,
    target_id, target_label, ip, user_agent, request_id, changes, metadata)
SELECT gen_random_uuid(),
       %(start)s::timestamptz - make_interval(secs => i),
       'user', 'u' || (i %% 50), 'user' || (i %% 50) || '@bench.test',
       (%(actions)s::text[])[1 + (i %% %(n_actions)s)],
       'catalog.product', 'p' || (i %% 5000), 'Product ' || (i %% 5000),
       ('198.51.100.' || (i %% 250))::inet, 'bench-agent/1.0', md5(i::text),
       jsonb_build_object('price', jsonb_build_array(i %% 100, i %% 100 + 1)), '{}'::jsonb
FROM generate_series(%(first)s, %(last)s) AS i
"""


def fill_to(size: int, filled: int) -> float:
    """Insert rows until the log holds ``size``; the seconds it took."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(at) FROM audit_auditevent")
        oldest = cursor.fetchone()[0]
        start = oldest.isoformat() if oldest else "2026-12-01T00:00:00Z"
        first = 1
        while filled < size:
            count = min(BATCH, size - filled)
            cursor.execute(
                FILL_SQL,
                {
                    "start": start,
                    "actions": FILL_ACTIONS,
                    "n_actions": len(FILL_ACTIONS),
                    "first": first,
                    "last": first + count - 1,
                },
            )
            first += count
            filled += count
            log(f"filled {filled:,} entries")
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - started


def middle_cursor() -> str:
    """The cursor of the page that starts at the middle of the log."""
    from atrium.platform.audit_api.pagination import AuditCursorPagination

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT at, id FROM audit_auditevent ORDER BY at DESC, id DESC OFFSET "
            "(SELECT count(*) / 2 FROM audit_auditevent) LIMIT 1"
        )
        at, pk = cursor.fetchone()
    return AuditCursorPagination.encode(at.isoformat(), str(pk))


def listing(params: dict) -> tuple[int, float]:
    """What the view does for a page: filter, paginate, serialize (rows, seconds)."""
    started = time.perf_counter()
    request = Request(FACTORY.get(URL, params))
    queryset = selectors.audit_event_list(filters=audit_filters(request.query_params))
    rows = len(AuditCursorPagination().paginate_queryset(queryset, request))
    return rows, time.perf_counter() - started


def measure(sides: list[dict], params: dict) -> list[dict]:
    """For each side (a tenant and its size): the whole request and the listing alone, the
    sides alternating request by request, so that the machine's load hits both alike."""
    for side in sides:
        for _ in range(args.warmup):
            side["client"].get(URL, side["params"](params), **side["headers"])
    results = []
    for side in sides:
        statements: list[str] = []

        def record(execute, sql, params_, many, context, statements=statements):
            statements.append(sql)
            return execute(sql, params_, many, context)

        with connection.execute_wrapper(record):
            response = side["client"].get(URL, side["params"](params), **side["headers"])
        if response.status_code != 200:
            raise harness.BenchmarkError(f"{params}: {response.status_code} {response.content}")
        results.append(
            {"rows": len(response.json()["results"]), "queries": len(statements), "sql": statements}
        )
    times = [{"listing": [], "request": []} for _ in sides]
    for _ in range(args.n):
        for index, side in enumerate(sides):
            started = time.perf_counter()
            side["client"].get(URL, side["params"](params), **side["headers"])
            times[index]["request"].append(time.perf_counter() - started)
            with tenant_scope(side["tenant"]):
                listed, seconds = listing(side["params"](params))
            times[index]["listing"].append(seconds)
            if listed != results[index]["rows"]:
                raise harness.BenchmarkError(f"{params}: listing {listed} rows, API differs")
    for result, timed in zip(results, times, strict=True):
        result.update(listing=summary_ms(timed["listing"]), request=summary_ms(timed["request"]))
    return results


def explain_newest() -> str:
    """PostgreSQL's plan of the newest page's statement, as the list sends it."""
    sql, params = rendered_statement(selectors.audit_event_list()[: args.page_size + 1])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def side_of(slug: str, size: int) -> dict:
    info = harness.bench_tenant(slug)
    tenant = Tenant.objects.get(slug=slug)
    with tenant_scope(tenant):
        owner = User.objects.get(email=info["email"])
        access = token_pair_issue(user=owner).access
        fill_seconds = fill_to(size, 0)
        cursor = middle_cursor()
        plan = explain_newest()

    def params(base: dict) -> dict:
        return {**base, "cursor": cursor} if base.get("cursor") == "middle" else base

    return {
        "size": size,
        "tenant": tenant,
        "client": Client(),
        "headers": {"HTTP_HOST": info["host"], "HTTP_AUTHORIZATION": f"Bearer {access}"},
        "params": params,
        "fill_seconds": round(fill_seconds, 1),
        "plan": plan,
    }


def profile(side: dict, params: dict) -> None:
    """Print cProfile's top functions of ``--n`` requests, then of ``--n`` listings."""
    import cProfile
    import pstats

    for _ in range(args.warmup):
        side["client"].get(URL, params, **side["headers"])
    for name, call in (
        ("request", lambda: side["client"].get(URL, params, **side["headers"])),
        ("listing", lambda: listing(params)),
    ):
        profiler = cProfile.Profile()
        with tenant_scope(side["tenant"]):
            profiler.enable()
            for _ in range(args.n):
                call()
            profiler.disable()
        print(f"\n===== {name}, {args.n} times: {params}")
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


def main() -> int:
    if args.profile:
        side = side_of("large", args.large)
        for params in (
            {"page_size": args.page_size},
            {"page_size": args.page_size, "cursor": "middle"},
            {"page_size": args.page_size, "action": "product.updated"},
        ):
            profile(side, side["params"](params))
        run.close()
        return 0
    sides = [side_of("small", args.small), side_of("large", args.large)]
    cases = {
        "newest page": {"page_size": args.page_size},
        "middle page (cursor)": {"page_size": args.page_size, "cursor": "middle"},
        "one action": {"page_size": args.page_size, "action": "product.updated"},
        "one target": {
            "page_size": args.page_size,
            "target_type": "catalog.product",
            "target_id": "p42",
        },
    }
    size_results: dict[int, dict] = {
        side["size"]: {"fill_seconds": side["fill_seconds"], "plan": side["plan"], "cases": {}}
        for side in sides
    }
    for name, params in cases.items():
        for side, result in zip(sides, measure(sides, params), strict=True):
            size_results[side["size"]]["cases"][name] = result
            log(
                f"{side['size']:,} entries, {name}: listing {result['listing']['p50_ms']} ms, "
                f"request {result['request']['p50_ms']} ms p50, {result['queries']} queries"
            )

    small, large = size_results[args.small]["cases"], size_results[args.large]["cases"]
    rows = []
    for size, data in size_results.items():
        for name, result in data["cases"].items():
            for part in ("listing", "request"):
                rows.append(
                    [
                        f"{size:,}",
                        name,
                        part,
                        result["rows"],
                        result["queries"],
                        *latency_cells(result[part]),
                    ]
                )
    newest, newest_small = large["newest page"], small["newest page"]
    targets = [
        target(
            f"newest {args.page_size} of {args.large:,}: listing p50 ms",
            newest["listing"]["p50_ms"],
            "<=",
            TARGET_MS,
        ),
        target(
            f"queries, newest page: {args.large:,} entries minus {args.small:,}",
            newest["queries"] - newest_small["queries"],
            "==",
            0,
        ),
        target(
            "queries of every case: the same at both sizes",
            all(large[c]["queries"] == small[c]["queries"] for c in large),
            "==",
            True,
        ),
        target(
            f"newest page, request p50: {args.large:,} / {args.small:,} entries",
            newest["request"]["p50_ms"] / newest_small["request"]["p50_ms"],
            "<=",
            1.5,
        ),
    ]
    notes = [
        f"Two tenants, their audit logs filled to {args.small:,} and {args.large:,} entries "
        f"(fill: {size_results[args.small]['fill_seconds']} s, then "
        f"{size_results[args.large]['fill_seconds']} s, `generate_series`, one statement per "
        f"{BATCH:,} rows). Each case requested {args.n} times in each after {args.warmup} "
        "untimed, the two tenants alternating request by request, "
        "through the whole Django stack in one process (test client, JWT, every middleware: "
        "*request*), alternating with the listing alone (*listing*: the view's filters, "
        "cursor paginator and the page PostgreSQL renders as JSON, on the tenant's "
        "connection, no HTTP).",
        "The statements of one request (newest page): "
        + "; ".join(f"`{sql[:160]}…`" if len(sql) > 160 else f"`{sql}`" for sql in newest["sql"]),
        "PostgreSQL's plan of the newest page at the large size:\n\n```\n"
        + size_results[args.large]["plan"]
        + "\n```",
    ]
    code = run.finish(
        tables=[table("Pages", "entries | case | timed | rows | queries | " + LATENCY, rows)],
        targets=targets,
        notes=notes,
    )
    run.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
