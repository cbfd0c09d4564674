#!/usr/bin/env python
"""API throughput: ``GET /users/me/`` on a tenant host, full path against bare.

One uvicorn (``tests/driver.py``'s ``Server``, settings ``benchmarks.settings_api``) serves
every case, on a database and a Redis DB of the benchmark's own:

* **bare** ``/bench/bare/users/me/``: same middleware, user and serializer, without tenant
  routing, JWT or throttling (``benchmarks/api_bare.py``);
* **full** ``/api/v1/users/me/`` with a JWT from the real login: routing, ``tenant_scope``,
  the tenant-bound JWT, the throttles (limits raised, so nothing is refused);
* **api_key** the same route with ``Authorization: Api-Key atr_…``, a read-scoped key made
  through ``POST /api/v1/api-keys/``: the key's lookup, its SHA-512 check, its principal.

A case is a path and its headers (``cases()``): add one there and it is measured, checked and
compared with bare. The cases run in rounds whose order rotates, so drift hits all alike.

    .venv/bin/python benchmarks/api.py                                   # full run, ~3 min
    .venv/bin/python benchmarks/api.py --duration 2 --rounds 2 --warmup 1 --results-dir /tmp/bench
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import BenchmarkError, table, target
from benchmarks.httpload import measure

HOST = "bench.localhost"
TARGET = 0.70  # every case's req/s over bare's


def cases(token: str, api_key: str) -> dict[str, tuple[str, dict]]:
    """label -> (path, headers). ``bare`` is the baseline every other case is divided by."""
    return {
        "bare": ("/bench/bare/users/me/", {"Host": HOST}),
        "full": ("/api/v1/users/me/", {"Host": HOST, "Authorization": f"Bearer {token}"}),
        "api_key": ("/api/v1/users/me/", {"Host": HOST, "Authorization": f"Api-Key {api_key}"}),
    }


def create_api_key(server, token: str) -> str:
    """A read-scoped key of the owner, made through the API like any client would."""
    response = server.post(
        HOST, "/api/v1/api-keys/", json={"name": "bench", "scopes": ["read"]}, token=token
    )
    if response.status_code != 201:
        raise BenchmarkError(f"creating the API key: {response.status_code} {response.text}")
    return response.json()["key"]


def check_api_key(server, api_key: str, user_id: str) -> None:
    """The key answers the owner (acting as a member: read scope), throttled, and is
    refused when wrong or on another host."""
    headers = {"Authorization": f"Api-Key {api_key}"}
    mine = server.get(HOST, "/api/v1/users/me/", headers=headers)
    wrong = server.get(
        HOST, "/api/v1/users/me/", headers={"Authorization": f"Api-Key {api_key[:-1]}x"}
    ).status_code
    foreign = server.get("nope.localhost", "/api/v1/users/me/", headers=headers).status_code
    checks = {
        "api_key answers 200 as the owner": mine.status_code == 200
        and mine.json()["id"] == user_id,
        "acting as a member (read scope)": mine.json().get("role") == "member",
        "api_key is throttled": mine.headers.get("RateLimit-Limit") == "1000000000",
        "api_key: 401 when wrong, 404 on an unknown host": (wrong, foreign) == (401, 404),
    }
    if failed := [name for name, ok in checks.items() if not ok]:
        raise BenchmarkError(f"api_key checks failed: {failed}")


def check(server, token: str, user_id: str) -> None:
    """Both paths answer the same user; each runs or skips what it should."""
    full = server.get(HOST, "/api/v1/users/me/", token=token)
    bare = server.get(HOST, "/bench/bare/users/me/")
    no_token = server.get(HOST, "/api/v1/users/me/").status_code
    foreign = server.get("nope.localhost", "/api/v1/users/me/", token=token).status_code
    checks = {
        "full and bare answer 200": full.status_code == bare.status_code == 200,
        "the same JSON": full.json() == bare.json(),
        "the tenant's owner": full.json()["id"] == user_id,
        "full is throttled (RateLimit-Limit)": full.headers.get("RateLimit-Limit") == "1000000000",
        "bare is not": "RateLimit-Limit" not in bare.headers,
        "full: 401 without a token, 404 on an unknown host": (no_token, foreign) == (401, 404),
    }
    if failed := [name for name, ok in checks.items() if not ok]:
        raise BenchmarkError(f"checks failed: {failed}")


def redis_calls(client) -> dict:
    stats = client.info("commandstats")
    return {
        name: stats.get(f"cmdstat_{name}", {}).get("calls", 0)
        for name in ("mget", "evalsha", "get", "set")
    }


def run_case(args, server, redis_client, path: str, headers: dict, duration: float) -> dict:
    calls = redis_calls(redis_client)
    result = measure(
        server.port, path, headers, connections=args.connections, duration=duration, pid=server.pid
    )
    if not result["requests"] or any(result["errors"].values()):
        raise BenchmarkError(f"{path}: {result['requests']} requests, errors {result['errors']}")
    after = redis_calls(redis_client)
    result["redis"] = {k: round((after[k] - calls[k]) / result["requests"], 2) for k in after}
    return result


def main() -> int:
    parser = harness.options(__doc__, database="atrium_bench_api", redis_db=7)
    parser.add_argument("--duration", type=float, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=8, help="rounds; the order rotates")
    parser.add_argument("--warmup", type=float, default=3, help="untimed seconds per case")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--no-db-pool",
        dest="db_pool",
        action="store_false",
        help="a new connection per request; results go to api-nopool.*",
    )
    args, run = harness.start(
        parser,
        lambda args: "api" if args.db_pool else "api-nopool",
        "API throughput",
        "benchmarks.settings_api",
        ATRIUM_BENCH_SCHEMA="bench",
        DB_POOL=lambda args: "1" if args.db_pool else "0",
        DB_CONN_MAX_AGE="0",
    )
    try:
        tenant = harness.bench_tenant()
        with harness.server({**run.env, "ATRIUM_BENCH_USER_ID": tenant["user_id"]}) as server:
            token = server.login(HOST, tenant["email"], tenant["password"])
            check(server, token, tenant["user_id"])
            api_key = create_api_key(server, token)
            check_api_key(server, api_key, tenant["user_id"])
            measured = cases(token, api_key)

            def one(label: str, seconds: float, _round: int) -> dict:
                return run_case(args, server, run.claimed[0], *measured[label], seconds)

            rounds = harness.rounds(one, list(measured), args.rounds, args.warmup, args.duration)
    finally:
        run.close()

    rows, summary, targets = [], {}, []
    for label, results in rounds.items():
        rps = harness.spread([r["per_second"] for r in results])
        s = summary[label] = {
            "requests_per_second": rps,
            "p50_ms": harness.mean(results, "latency", "p50_ms"),
            "p99_ms": harness.mean(results, "latency", "p99_ms"),
            "server_cpu_us": harness.mean(results, "server_cpu_us", digits=0),
            "redis_per_request": results[-1]["redis"],
        }
        redis = ", ".join(f"{k.upper()} {v}" for k, v in s["redis_per_request"].items())
        per_round = ", ".join(f"{v:.0f}" for v in rps["rounds"])
        rows.append(
            [
                f"{label} `{measured[label][0]}`",
                f"{rps['mean']:.0f} ± {rps['sd']:.0f}",
                per_round,
                s["p50_ms"],
                s["p99_ms"],
                s["server_cpu_us"],
                redis,
            ]
        )
    notes = []
    bare = summary["bare"]["requests_per_second"]
    for label in list(summary)[1:]:
        mine = summary[label]["requests_per_second"]
        per_round = [m / b for m, b in zip(mine["rounds"], bare["rounds"], strict=True)]
        summary[label]["ratio_to_bare"] = round(mine["mean"] / bare["mean"], 3)
        notes.append(
            f"**{label} / bare = {mine['mean'] / bare['mean']:.3f}** (rounds "
            f"{', '.join(f'{r:.2f}' for r in per_round)}; "
            f"median {statistics.median(per_round):.3f})."
        )
        targets.append(target(f"{label} / bare req/s", mine["mean"] / bare["mean"], ">=", TARGET))
    notes.append(
        f"{args.rounds} rounds x {args.duration:g} s per case after {args.warmup:g} s of warm-up, "
        f"{args.connections} keep-alive connections (`benchmarks/httpload.py`), one uvicorn "
        f"process, database connections {'pooled' if args.db_pool else 'one per request'}. "
        "Every request answered 200 (any other status stops the run). Latencies are means "
        "over rounds; Redis calls are counted server-wide."
    )
    return run.finish(
        summary=summary,
        notes=notes,
        tables=[
            table(
                "",
                (
                    "Path | req/s mean ± sd | per round | p50 ms | p99 ms"
                    " | server CPU µs/req | Redis calls/req"
                ),
                rows,
            )
        ],
        targets=targets,
    )


if __name__ == "__main__":
    sys.exit(main())
