#!/usr/bin/env python
"""Audit log: the newest page of ``GET /api/v1/audit-events/`` costs the same few queries and
stays under 20 ms whether the tenant's log holds 1,000 entries or 1,000,000.

One tenant; its log is filled with ``INSERT … SELECT … FROM generate_series`` in its schema
(one statement per 100,000 rows, then ``ANALYZE``), first to ``--small`` entries, then to
``--large``. At each size, each case is requested ``--n`` times (after ``--warmup``) through
the whole Django stack in this process (Django's test client, a real JWT, every middleware),
alternating with the listing alone (FilterSet, cursor paginator, serializer: the view's own
work, without HTTP), each timed with ``time.perf_counter()``; the SQL statements of one
request are counted. Cases: the newest page of 50; a page 50 deep in the cursor (at the middle of the
log); the newest 50 of one action; the newest of one target.

    .venv/bin/python benchmarks/audit.py                       # full run (1,000,000 entries)
    .venv/bin/python benchmarks/audit.py --large 100000 --n 50 --results-dir /tmp/bench
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
from atrium.platform.audit_api.serializers import FIELDS, entry_as_dict  # noqa: E402
from atrium.tenants.context import tenant_scope  # noqa: E402
from atrium.tenants.models import Tenant  # noqa: E402

URL = "/api/v1/audit-events/"
BATCH = 100_000
FACTORY = APIRequestFactory()
TENANT: list = []  # the bench tenant, once created
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
    return AuditCursorPagination.encode(at, pk)


def listing(params: dict) -> tuple[int, float]:
    """What the view does for a page: filter, paginate, serialize (rows, seconds)."""
    started = time.perf_counter()
    request = Request(FACTORY.get(URL, params))
    queryset = selectors.AuditEventFilter(request.query_params, selectors.audit_event_list()).qs
    page = AuditCursorPagination().paginate_queryset(queryset.values(*FIELDS), request)
    rows = len([entry_as_dict(row) for row in page])
    return rows, time.perf_counter() - started


def measure(client: Client, headers: dict, params: dict) -> dict:
    """The listing alone (in the tenant's scope) and the whole request, alternating."""
    statements: list[str] = []

    def record(execute, sql, params_, many, context):
        statements.append(sql)
        return execute(sql, params_, many, context)

    for _ in range(args.warmup):
        client.get(URL, params, **headers)
    with connection.execute_wrapper(record):
        response = client.get(URL, params, **headers)
    if response.status_code != 200:
        raise harness.BenchmarkError(f"{params}: {response.status_code} {response.content[:300]}")
    rows = len(response.json()["results"])
    list_times, request_times = [], []
    for _ in range(args.n):
        started = time.perf_counter()
        client.get(URL, params, **headers)
        request_times.append(time.perf_counter() - started)
        with tenant_scope(TENANT[0]):
            listed, seconds = listing(params)
        list_times.append(seconds)
    if listed != rows:
        raise harness.BenchmarkError(f"{params}: the listing gave {listed} rows, the API {rows}")
    return {
        "rows": rows,
        "queries": len(statements),
        "sql": statements,
        "listing": summary_ms(list_times),
        "request": summary_ms(request_times),
    }


def explain_newest() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT * FROM audit_auditevent "
            f"ORDER BY at DESC, id DESC LIMIT {args.page_size + 1}"
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> int:
    tenant_info = harness.bench_tenant("bench")
    tenant = Tenant.objects.get(slug="bench")
    TENANT.append(tenant)
    with tenant_scope(tenant):
        owner = User.objects.get(email=tenant_info["email"])
        access = token_pair_issue(user=owner).access
    headers = {"HTTP_HOST": tenant_info["host"], "HTTP_AUTHORIZATION": f"Bearer {access}"}
    client = Client()
    size_results: dict[int, dict] = {}
    filled = 0
    for size in (args.small, args.large):
        with tenant_scope(tenant):
            fill_seconds = fill_to(size, filled)
            filled = size
            cases = {
                "newest page": {"page_size": args.page_size},
                "middle page (cursor)": {"page_size": args.page_size, "cursor": middle_cursor()},
                "one action": {"page_size": args.page_size, "action": "product.updated"},
                "one target": {
                    "page_size": args.page_size,
                    "target_type": "catalog.product",
                    "target_id": "p42",
                },
            }
            plan = explain_newest()
        results = {}
        for name, params in cases.items():
            results[name] = measure(client, headers, params)
            log(
                f"{size:,} entries, {name}: listing {results[name]['listing']['p50_ms']} ms, "
                f"request {results[name]['request']['p50_ms']} ms p50, "
                f"{results[name]['queries']} queries"
            )
        size_results[size] = {
            "fill_seconds": round(fill_seconds, 1),
            "cases": results,
            "plan": plan,
        }

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
        f"One tenant; its audit log filled to {args.small:,}, then {args.large:,} entries "
        f"(fill: {size_results[args.small]['fill_seconds']} s, then "
        f"{size_results[args.large]['fill_seconds']} s, `generate_series`, one statement per "
        f"{BATCH:,} rows). Each case requested {args.n} times after {args.warmup} untimed, "
        "through the whole Django stack in one process (test client, JWT, every middleware: "
        "*request*), alternating with the listing alone (*listing*: the view's FilterSet, "
        "cursor paginator and serializer on the tenant's connection, no HTTP).",
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
