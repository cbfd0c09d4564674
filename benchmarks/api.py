#!/usr/bin/env python
"""API throughput benchmark: ``GET /api/v1/users/me/`` on a tenant host, full path against bare.

One uvicorn server (one process, ``config.asgi``, settings ``benchmarks.settings_api``)
serves both, on a database and a Redis DB of the benchmark's own:

* **full**: ``GET /api/v1/users/me/`` with ``Host: bench.localhost`` and a JWT from the real
  login endpoint: tenant routing, ``tenant_scope``, tenant-bound JWT, the Redis throttles
  (limits raised so nothing is refused) and their headers, ``UserViewSet.me``;
* **bare**: ``GET /bench/bare/users/me/``, same host, same middleware, same user and
  serializer, without routing, JWT or throttling (``benchmarks/api_bare.py``).

A load generator on this machine (wrk, else ``benchmarks/httpload.py``) drives each path in
turn, in rounds ordered bare-full, full-bare, … so that drift hits both alike. Results go
to benchmarks/results/api.{json,md}. See benchmarks/README.md.

    .venv/bin/python benchmarks/api.py                                   # the full run
    .venv/bin/python benchmarks/api.py --duration 3 --rounds 2 --results-dir /tmp/bench
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
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
from importlib import metadata
from pathlib import Path

import psycopg
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.api_breakdown import COMPONENTS, run_breakdown  # noqa: E402
from benchmarks.common import (  # noqa: E402
    BenchmarkError,
    claim_redis_db,
    database_name,
    drop_database,
    free_port,
    log,
    machine_basics,
    maintenance_url,
    write_atomically,
)
from benchmarks.httpload import fetch_once  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/atrium_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
REDIS_MARKER_KEY = "atrium-bench:api"
SETTINGS_MODULE = "benchmarks.settings_api"

TENANT_SLUG = "bench"
HOST = f"{TENANT_SLUG}.localhost"
OWNER_EMAIL = "owner@bench.test"
FULL_PATH = "/api/v1/users/me/"
BARE_PATH = "/bench/bare/users/me/"
PATHS = {"bare": BARE_PATH, "full": FULL_PATH}
TARGET_RATIO = 0.70
BURST_LIMIT = 1_000_000_000  # benchmarks/settings_api.py

WRK_SCRIPT = """
wrk.method = "GET"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {{"connect": %d, '
    .. '"read": %d, "write": %d, "status": %d, "timeout": %d}}, "latency_us": {{"p50": %d, '
    .. '"p90": %d, "p99": %d, "max": %d, "mean": %.1f}}}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=5.0, help="Seconds per measurement.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=8,
        help="Rounds of one bare and one full measurement (an even number balances the order).",
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="Untimed seconds of each path before round 1."
    )
    parser.add_argument("--connections", type=int, default=16, help="Keep-alive connections.")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="Load generator: wrk (auto: when installed) or benchmarks/httpload.py.",
    )
    parser.add_argument(
        "--db-conn-max-age",
        type=int,
        default=0,
        help="DB_CONN_MAX_AGE of the server. Under ASGI each request has a thread and so a "
        "connection of its own: the application's default (60) leaves them open until "
        "PostgreSQL refuses new ones.",
    )
    parser.add_argument(
        "--db-pool",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="psycopg's connection pool, the application's default (DB_POOL); --no-db-pool: "
        "a new connection per request; results go to api-nopool.{json,md}.",
    )
    parser.add_argument(
        "--breakdown-requests",
        type=int,
        default=500,
        help="Sequential in-process requests per path for the time breakdown (0: skip).",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ATRIUM_BENCH_API_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="Bench database (created and dropped; its name must contain 'bench').",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("ATRIUM_BENCH_API_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis DB of the benchmark's own: cache, routing, rate limits, Celery broker.",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="Where results go."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the bench database and Redis DB at the end."
    )
    parser.add_argument(
        "--check", action="store_true", help="Exit with status 1 when the target is missed."
    )
    args = parser.parse_args(argv)
    if args.duration < 1:
        parser.error("--duration must be at least 1 second")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    if args.breakdown_requests < 0:
        parser.error("--breakdown-requests must be 0 or more")
    if args.db_pool and args.db_conn_max_age:
        parser.error(
            "the pool needs --db-conn-max-age 0 (Django refuses both together): add --no-db-pool"
        )
    if not 1 <= args.connections <= 1000:
        parser.error("--connections must be between 1 and 1000")
    return args


# ----------------------------------------------------------------------------- services


# pg_try_advisory_lock key held for a whole run: two runs would drop each other's database.
RUN_LOCK_KEY = 0x61747269756D4150  # "atriumAP"


def take_run_lock(url: str) -> psycopg.Connection:
    """A session-level advisory lock on the server, released when this process ends."""
    conn = psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5)
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY]).fetchone()[0]:
        conn.close()
        raise BenchmarkError(
            "Another run of benchmarks/api.py is in progress on this PostgreSQL server; "
            "it would drop this run's database. Wait for it to finish."
        )
    return conn


def run_minutes(args: argparse.Namespace) -> int:
    seconds = 2 * args.warmup + 2 * args.rounds * (args.duration + 2)
    return math.ceil(seconds / 60)


def configure_environment(args: argparse.Namespace) -> None:
    """For this process and the server: bench settings, database and Redis DB."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    # tenant_create() queues a pool refill: it goes to the bench Redis DB (flushed at the
    # end), and a pool target of 0 would make it a no-op anyway.
    os.environ["CELERY_BROKER_URL"] = args.redis_url
    os.environ["ATRIUM_SPARE_POOL_SIZE"] = "0"
    os.environ["DB_CONN_MAX_AGE"] = str(args.db_conn_max_age)
    # The bare path's database alias connects with this schema as its search_path.
    os.environ["ATRIUM_BENCH_SCHEMA"] = TENANT_SLUG
    os.environ["DB_POOL"] = "1" if args.db_pool else "0"
    # The one access token must outlive the run (the default lifetime is 15 minutes).
    os.environ["JWT_ACCESS_MINUTES"] = str(max(15, run_minutes(args) + 10))


def provision() -> dict:
    """Public schema and template, then the tenant ``bench`` with its owner."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    from atrium.platform.accounts.models import User
    from atrium.tenants.context import tenant_scope
    from atrium.tenants.provisioning import tenant_create

    call_command("tenants", "migrate", stdout=io.StringIO())
    password = secrets.token_urlsafe(18)
    created = tenant_create(
        slug=TENANT_SLUG, name="Bench", owner_email=OWNER_EMAIL, owner_password=password
    )
    if created.tenant.schema_name != os.environ["ATRIUM_BENCH_SCHEMA"]:
        raise BenchmarkError(
            f"The tenant's schema is {created.tenant.schema_name!r}, not "
            f"{os.environ['ATRIUM_BENCH_SCHEMA']!r} as the bare path's database alias assumes."
        )
    with tenant_scope(created.tenant):
        user_id = str(User.objects.get(email=OWNER_EMAIL).pk)
    connections.close_all()
    return {
        "schema": created.tenant.schema_name,
        "plan": created.tenant.plan,
        "user_id": user_id,
        "password": password,
    }


# ----------------------------------------------------------------------------- server


class Server:
    """``uvicorn config.asgi:application``, one process, on 127.0.0.1."""

    def __init__(self, tenant: dict, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / "uvicorn.log"
        self.command = [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        env = dict(os.environ)
        env["ATRIUM_BENCH_USER_ID"] = tenant["user_id"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchmarkError(f"uvicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if get(self, "/healthz")["status"] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchmarkError(f"uvicorn did not answer /healthz in {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


def get(server: Server, path: str, headers: dict[str, str] | None = None) -> dict:
    lines = [f"{name}: {value}" for name, value in {"Host": HOST, **(headers or {})}.items()]
    return asyncio.run(fetch_once(server.url(path), lines))


def login(server: Server, password: str) -> str:
    """An access token from the real login endpoint (POST /api/v1/auth/token/)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        body = json.dumps({"email": OWNER_EMAIL, "password": password})
        conn.request(
            "POST",
            "/api/v1/auth/token/",
            body=body,
            headers={"Host": HOST, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchmarkError(f"Login answered {response.status}: {payload[:300]!r}")
    return json.loads(payload)["access"]


def check_paths(server: Server, token: str, user_id: str) -> dict:
    """Both paths answer 200 with the same user; each skips or runs what it should."""
    auth = {"Authorization": f"Bearer {token}"}
    full = get(server, FULL_PATH, auth)
    bare = get(server, BARE_PATH)
    checks = {}

    def expect(name: str, ok: bool, detail: object) -> None:
        checks[name] = {"ok": bool(ok), "detail": detail}
        if not ok:
            raise BenchmarkError(f"Check {name!r} failed: {detail}")

    expect("full: 200", full["status"] == 200, full["status"])
    expect("bare: 200", bare["status"] == 200, bare["status"])
    full_user, bare_user = json.loads(full["body"]), json.loads(bare["body"])
    expect("same user, same JSON", full_user == bare_user, {"full": full_user, "bare": bare_user})
    expect("it is the tenant's owner", full_user.get("id") == user_id, full_user.get("id"))
    expect(
        "full: throttled, nothing refused (RateLimit-Limit)",
        full["headers"].get("ratelimit-limit") == str(BURST_LIMIT),
        full["headers"].get("ratelimit-limit"),
    )
    expect(
        "bare: not throttled (no RateLimit-* headers)",
        "ratelimit-limit" not in bare["headers"],
        sorted(bare["headers"]),
    )
    no_token = get(server, FULL_PATH)
    expect("full without a token: 401", no_token["status"] == 401, no_token["status"])
    foreign = get(server, FULL_PATH, {**auth, "Host": "nope.localhost"})
    expect("full on an unknown host: 404", foreign["status"] == 404, foreign["status"])
    bare_foreign = get(server, BARE_PATH, {"Host": "nope.localhost"})
    expect(
        "bare on an unknown host: 200 (no routing)",
        bare_foreign["status"] == 200,
        bare_foreign["status"],
    )
    return {
        "checks": checks,
        "response_bytes": {"full": full["size"], "bare": bare["size"]},
        "response_headers": {"full": full["headers"], "bare": bare["headers"]},
    }


def breakdown_in_process(args: argparse.Namespace, tenant: dict, token: str) -> dict:
    """The time breakdown of both paths (benchmarks/api_breakdown.py), in this process."""
    from django.conf import settings
    from django.db import connections

    settings.ATRIUM_BENCH_USER_ID = tenant["user_id"]
    try:
        return run_breakdown(host=HOST, token=token, paths=PATHS, requests=args.breakdown_requests)
    finally:
        connections.close_all()


# ----------------------------------------------------------------------------- CPU accounting

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def redis_cpu_seconds() -> float:
    """CPU of the Redis server processes (long-lived, unlike PostgreSQL's backends, which
    come and go with the connections and take their CPU time with them)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        if text[text.find("(") + 1 : text.rfind(")")] == "redis-server":
            fields = text.rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def machine_busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


# ----------------------------------------------------------------------------- load


def load_command(
    args: argparse.Namespace, client: str, server: Server, path: str, headers: dict, workdir: Path
) -> list[str]:
    seconds = args.duration
    if client == "wrk":
        script = workdir / f"wrk-{'full' if path == FULL_PATH else 'bare'}.lua"
        header_lines = "\n".join(
            f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}"
            for name, value in headers.items()
        )
        script.write_text(WRK_SCRIPT.format(headers=header_lines), encoding="utf-8")
        return [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(args.connections),
            "--duration",
            f"{seconds:g}s",
            "--timeout",
            "10s",
            "--script",
            str(script),
            server.url(path),
        ]
    return [
        sys.executable,
        str(REPO_ROOT / "benchmarks" / "httpload.py"),
        "--url",
        server.url(path),
        *(item for name, value in headers.items() for item in ("--header", f"{name}: {value}")),
        "--connections",
        str(args.connections),
        "--duration",
        f"{seconds:g}",
    ]


REDIS_COMMANDS = ("evalsha", "get")  # the throttles' script; routing's version read


def redis_command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls of REDIS_COMMANDS so far (the whole Redis server, every DB and client)."""
    stats = client.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in REDIS_COMMANDS}


def run_load(command: list[str], server: Server, redis_client: redis.Redis) -> dict:
    """One measurement: the load generator's summary and the CPU everyone spent meanwhile."""
    calls_before = redis_command_calls(redis_client)
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, redis_before = server.cpu_seconds(), redis_cpu_seconds()
    busy_before, total_before = machine_busy_jiffies()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    busy_after, total_after = machine_busy_jiffies()
    server_after, redis_after = server.cpu_seconds(), redis_cpu_seconds()
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    calls_after = redis_command_calls(redis_client)
    if server.proc.poll() is not None:
        raise BenchmarkError(f"uvicorn died during the load:\n{server.log_tail()}")
    summary = None
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = json.loads(line.removeprefix("BENCH_JSON "))
    if proc.returncode != 0 or summary is None:
        raise BenchmarkError(
            f"{command[0]} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    loadgen = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    cpu = {
        "server": server_after - server_before,
        "redis": redis_after - redis_before,
        "load_generator": loadgen,
    }
    # Everything else the machine's CPUs did meanwhile: PostgreSQL (its backends come and go
    # with the connections, so /proc cannot attribute them), and whatever else ran.
    cpu["rest_of_machine"] = (busy_after - busy_before) / CLOCK_TICKS - sum(cpu.values())
    summary["cpu_seconds"] = {name: round(value, 3) for name, value in cpu.items()}
    summary["redis_calls"] = {
        name: calls_after[name] - calls_before[name] for name in REDIS_COMMANDS
    }
    summary["machine_busy_percent"] = round(
        100 * (busy_after - busy_before) / max(1, total_after - total_before), 1
    )
    return summary


def measurement(summary: dict, expected_bytes: int, label: str, round_no: int) -> dict:
    """The figures of one measurement; raises when any request failed."""
    requests = summary["requests"]
    seconds = summary["duration_us"] / 1e6
    errors = summary["errors"]
    if not requests or any(errors.values()):
        raise BenchmarkError(f"{label}, round {round_no}: {requests} requests, errors {errors}")
    per_request = summary["bytes"] / requests
    # Every answer must be the 200 checked before the load: any other status (a 3xx, a
    # 401, a 429) or an error page changes the size, which stays put otherwise.
    if abs(per_request - expected_bytes) > 0.01 * expected_bytes:
        raise BenchmarkError(
            f"{label}, round {round_no}: {per_request:.1f} bytes per response, expected "
            f"{expected_bytes}: not every answer was the checked 200."
        )
    latency = summary["latency_us"]
    cpu = summary["cpu_seconds"]
    return {
        "path": label,
        "round": round_no,
        "requests": requests,
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / seconds, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in latency.items() if v is not None},
        "errors": errors,
        "bytes_per_response": round(per_request, 1),
        "cpu_us_per_request": {k: round(v * 1e6 / requests, 1) for k, v in cpu.items()},
        "cpu_seconds": cpu,
        # Server-wide counts, so other clients of the Redis server add to them.
        "redis_calls_per_request": {
            name: round(calls / requests, 3) for name, calls in summary["redis_calls"].items()
        },
        "machine_busy_percent": summary["machine_busy_percent"],
    }


def run_rounds(
    args: argparse.Namespace,
    client: str,
    server: Server,
    redis_client: redis.Redis,
    token: str,
    expected: dict,
    workdir: Path,
) -> tuple[list[dict], dict]:
    headers = {
        "bare": {"Host": HOST},
        "full": {"Host": HOST, "Authorization": f"Bearer {token}"},
    }
    commands = {
        label: load_command(args, client, server, PATHS[label], headers[label], workdir)
        for label in PATHS
    }

    def measure(command: list[str], label: str, round_no: int) -> dict:
        summary = run_load(command, server, redis_client)
        try:
            return measurement(summary, expected[label], label, round_no)
        except BenchmarkError as exc:
            tail = server.log_tail(8)
            raise BenchmarkError(f"{exc}\nLast lines of the server's log:\n{tail}") from None

    warmup = {}
    if args.warmup:
        for label in ("bare", "full"):
            log(f"Warm-up: {label}, {args.warmup:g} s…")
            command = load_command(
                argparse.Namespace(**{**vars(args), "duration": args.warmup}),
                client,
                server,
                PATHS[label],
                headers[label],
                workdir / "warmup",
            )
            warmup[label] = measure(command, label, 0)
    results = []
    for round_no in range(1, args.rounds + 1):
        order = ("bare", "full") if round_no % 2 else ("full", "bare")
        for label in order:
            result = measure(commands[label], label, round_no)
            result["position"] = order.index(label) + 1
            results.append(result)
            log(
                f"Round {round_no}/{args.rounds} {label:<4}: "
                f"{result['requests_per_second']:>8.1f} req/s, p50 "
                f"{result['latency_ms']['p50']:.2f} ms, p99 {result['latency_ms']['p99']:.2f} ms, "
                f"server CPU {result['cpu_us_per_request']['server']:.0f} µs/req"
            )
    return results, warmup


# ----------------------------------------------------------------------------- results


def summarize(measurements: list[dict], label: str) -> dict:
    rows = [m for m in measurements if m["path"] == label]
    rps = [m["requests_per_second"] for m in rows]

    def mean_of(getter) -> float:
        return round(statistics.fmean(getter(m) for m in rows), 2)

    return {
        "rounds": len(rows),
        "requests_per_second": {
            "mean": round(statistics.fmean(rps), 1),
            "stdev": round(statistics.stdev(rps), 1) if len(rps) > 1 else 0.0,
            "min": min(rps),
            "max": max(rps),
            "per_round": rps,
        },
        "requests": sum(m["requests"] for m in rows),
        "errors": sum(sum(m["errors"].values()) for m in rows),
        "latency_ms_mean_of_rounds": {
            key: mean_of(lambda m, key=key: m["latency_ms"][key])
            for key in ("p50", "p90", "p99", "max")
        },
        "cpu_us_per_request_mean_of_rounds": {
            key: mean_of(lambda m, key=key: m["cpu_us_per_request"][key])
            for key in ("server", "redis", "load_generator", "rest_of_machine")
        },
        "redis_calls_per_request_mean_of_rounds": {
            name: round(statistics.fmean(m["redis_calls_per_request"][name] for m in rows), 3)
            for name in REDIS_COMMANDS
        },
        "machine_busy_percent_mean": mean_of(lambda m: m["machine_busy_percent"]),
    }


def compare(measurements: list[dict], bare: dict, full: dict) -> dict:
    ratio = full["requests_per_second"]["mean"] / bare["requests_per_second"]["mean"]
    per_round = []
    for round_no in sorted({m["round"] for m in measurements}):
        pair = {m["path"]: m["requests_per_second"] for m in measurements if m["round"] == round_no}
        per_round.append(round(pair["full"] / pair["bare"], 3))
    server_bare = bare["cpu_us_per_request_mean_of_rounds"]["server"]
    server_full = full["cpu_us_per_request_mean_of_rounds"]["server"]
    return {
        "ratio_full_over_bare": round(ratio, 3),
        "ratio_per_round": per_round,
        # Robust to a round that another process on the machine spoiled.
        "ratio_median_of_rounds": round(statistics.median(per_round), 3),
        # What the ratio would be if the server's CPU were the only limit.
        "server_cpu_ratio_bare_over_full": round(server_bare / server_full, 3),
        "target": f">= {TARGET_RATIO:.2f} (ratio of the mean req/s)",
        "met": ratio >= TARGET_RATIO,
        "server_cpu_us_per_request": {
            "bare": server_bare,
            "full": server_full,
            "full_minus_bare": round(server_full - server_bare, 1),
        },
    }


def git_state() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    status = git("status", "--porcelain").splitlines()
    # The uncommitted files, so that a run on a work tree in progress can be traced.
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(status), "changes": status}


def tool_version(command: list[str]) -> str | None:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def machine_info(client: str, redis_client: redis.Redis, database_url: str) -> dict:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        pg_version = conn.execute("SELECT version()").fetchone()[0]

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        **machine_basics(),
        "packages": {
            name: version(name)
            for name in (
                "django",
                "djangorestframework",
                "djangorestframework-simplejwt",
                "django-tenants",
                "uvicorn",
                "uvloop",
                "httptools",
                "redis",
                "hiredis",
                "psycopg",
            )
        },
        "postgresql": pg_version,
        "redis_server": redis_client.info("server").get("redis_version"),
        "load_generator": (
            (tool_version(["wrk", "--version"]) or "wrk").split(" [")[0]
            if client == "wrk"
            else "benchmarks/httpload.py"
        ),
        "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def render_markdown(results: dict) -> str:
    r = results["results"]
    m = results["machine"]
    p = results["parameters"]
    cmp_ = r["comparison"]
    rows = []
    for label, title in (
        ("bare", "bare `/bench/bare/users/me/`"),
        ("full", "full `/api/v1/users/me/`"),
    ):
        s = r[label]
        rps = s["requests_per_second"]
        lat = s["latency_ms_mean_of_rounds"]
        cpu = s["cpu_us_per_request_mean_of_rounds"]
        rows.append(
            f"| {title} | {rps['mean']:.0f} ± {rps['stdev']:.0f} | "
            f"{', '.join(f'{v:.0f}' for v in rps['per_round'])} | {lat['p50']:.2f} | "
            f"{lat['p99']:.2f} | {s['errors']} | {cpu['server']:.0f} | {cpu['rest_of_machine']:.0f} | "
            f"{cpu['redis']:.0f} |"
        )
    lines = [
        "# API throughput benchmark",
        "",
        f"Run {results['started_at']} ({results['duration_seconds']:.0f} s) with "
        f"`{results['command']}`: {p['rounds']} rounds x {p['duration_seconds']:g} s per path "
        f"(after {p['warmup_seconds']:g} s of warm-up each), {p['connections']} connections, "
        f"load generator {m['load_generator']}, one uvicorn process. Database connections: "
        f"{db_mode(p)}.",
        "",
        "| Path | req/s mean ± sd | per round | p50 ms | p99 ms | errors | server CPU µs/req "
        "| rest of machine µs/req | Redis µs/req |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"**full / bare = {cmp_['ratio_full_over_bare']:.3f}** (per round: "
        f"{', '.join(f'{v:.3f}' for v in cmp_['ratio_per_round'])}; median "
        f"{cmp_['ratio_median_of_rounds']:.3f}); target {cmp_['target']}: "
        f"**{'met' if cmp_['met'] else 'NOT met'}**. Server CPU per request: bare "
        f"{cmp_['server_cpu_us_per_request']['bare']:.0f} µs, full "
        f"{cmp_['server_cpu_us_per_request']['full']:.0f} µs (bare / full "
        f"{cmp_['server_cpu_ratio_bare_over_full']:.3f}).",
        "",
        "Latencies are the mean over rounds of each round's percentile, as measured by the load "
        'generator. CPU per request: the server process and Redis from /proc; "rest of machine" '
        "is every other CPU-second of the machine (PostgreSQL, and any other work). Machine busy during the rounds: bare "
        f"{r['bare']['machine_busy_percent_mean']:.0f} %, full "
        f"{r['full']['machine_busy_percent_mean']:.0f} % of all CPUs; the load generator itself "
        f"took {r['bare']['cpu_us_per_request_mean_of_rounds']['load_generator']:.0f} / "
        f"{r['full']['cpu_us_per_request_mean_of_rounds']['load_generator']:.0f} µs per request. "
        "Redis calls per request (counted server-wide): "
        + "; ".join(
            f"{label} "
            + ", ".join(
                f"{n.upper()} {v:.2f}"
                for n, v in r[label]["redis_calls_per_request_mean_of_rounds"].items()
            )
            for label in ("bare", "full")
        )
        + ".",
        "",
        *render_breakdown(r.get("breakdown")),
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"{m['postgresql'].split(' on ')[0]}, Redis {m['redis_server']}, Python {m['python']}, "
        f"Django {m['packages']['django']}, uvicorn {m['packages']['uvicorn']} "
        f"(uvloop {m['packages']['uvloop']}, httptools {m['packages']['httptools']}); "
        f"load average {m['load_average_1_5_15_at_start'][0]} at start, "
        f"{m['load_average_1_5_15_at_end'][0]} at end. The load generator runs on the same "
        f"{m['nproc']} CPUs as the server, PostgreSQL and Redis. Git "
        f"{(results['git']['commit'] or 'unknown')[:12]}"
        f"{' (uncommitted changes)' if results['git']['dirty'] else ''}.",
        "",
    ]
    return "\n".join(lines)


def db_mode(parameters: dict) -> str:
    if parameters["db_pool"]:
        return "psycopg's pool, the application's default (`DB_POOL=1`)"
    age = parameters["db_conn_max_age"]
    return f"`DB_CONN_MAX_AGE={age}`" + (", a new connection per request" if age == 0 else "")


def render_breakdown(breakdown: dict | None) -> list[str]:
    if not breakdown:
        return []
    bare, full = breakdown["bare"], breakdown["full"]
    rows = []
    for label in full["components"].keys() | bare["components"].keys():
        cells = []
        for side in (bare, full):
            c = side["components"].get(label)
            cells.append(
                f"{c['calls_per_request']:g} | {c['wall_us']:.0f} | {c['cpu_us']:.0f}"
                if c
                else "- | - | -"
            )
        rows.append(f"| {label} | {cells[0]} | {cells[1]} |")
    rows.sort(key=lambda row: [label for label, _, _ in COMPONENTS].index(row.split(" | ")[0][2:]))
    extra = breakdown["full_minus_bare"]
    return [
        f"Where the time goes ({full['requests']} sequential in-process requests per path, "
        "no HTTP; `benchmarks/api_breakdown.py`): per request, bare "
        f"{bare['wall_us_per_request']:.0f} µs wall / {bare['process_cpu_us_per_request']:.0f} µs "
        f"CPU, full {full['wall_us_per_request']:.0f} µs / "
        f"{full['process_cpu_us_per_request']:.0f} µs; full - bare "
        f"{extra['wall_us_per_request']:.0f} µs wall / {extra['process_cpu_us_per_request']:.0f} "
        f"µs CPU. `SET search_path` per request: bare {bare['search_path_sets_per_request']:g}, "
        f"full {full['search_path_sets_per_request']:g}.",
        "",
        "| Component | bare calls/req | wall µs | CPU µs | full calls/req | wall µs | CPU µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Components nest: the user query (which includes the connection's start when each "
        "request has its own, and django-tenants' search_path handling) runs inside \"JWT: load "
        'the user" in the full path and in the view in the bare one.',
        "",
    ]


def print_summary(results: dict) -> None:
    r = results["results"]
    print()
    for label in ("bare", "full"):
        s = r[label]
        rps = s["requests_per_second"]
        lat = s["latency_ms_mean_of_rounds"]
        print(
            f"{label:<5} {rps['mean']:>8.1f} req/s (sd {rps['stdev']:.1f}; rounds "
            f"{', '.join(f'{v:.0f}' for v in rps['per_round'])}), p50 {lat['p50']:.2f} ms, "
            f"p99 {lat['p99']:.2f} ms, errors {s['errors']}, server CPU "
            f"{s['cpu_us_per_request_mean_of_rounds']['server']:.0f} µs/req"
        )
    breakdown = r.get("breakdown")
    if breakdown:
        extra = breakdown["full_minus_bare"]
        print(
            f"in-process, full - bare: {extra['wall_us_per_request']:.0f} µs wall, "
            f"{extra['process_cpu_us_per_request']:.0f} µs CPU per request: "
            + ", ".join(
                f"{label} {c['cpu_us']:.0f}" for label, c in breakdown["full"]["components"].items()
            )
        )
    c = r["comparison"]
    print(
        f"\n{'met ' if c['met'] else 'MISS'}  full / bare = {c['ratio_full_over_bare']:.3f} "
        f"(rounds {', '.join(f'{v:.3f}' for v in c['ratio_per_round'])}), target {c['target']}\n"
    )


# ----------------------------------------------------------------------------- main


def pick_client(choice: str) -> str:
    if choice == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if choice == "wrk":
        raise BenchmarkError("wrk is not installed (apt-get install wrk), or use --client python.")
    return "python"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if "bench" not in database_name(args.database_url):
        raise SystemExit(
            f"Refusing to use {database_name(args.database_url)!r}: the bench database is "
            "dropped and re-created, so its name must contain 'bench'."
        )
    client = pick_client(args.client)
    configure_environment(args)
    command = shlex.join([".venv/bin/python", "benchmarks/api.py", *sys.argv[1:]])
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]

    run_lock = take_run_lock(args.database_url)
    redis_client = claim_redis_db(args.redis_url, REDIS_MARKER_KEY)
    log(f"Creating database {database_name(args.database_url)!r}…")
    drop_database(args.database_url, create_again=True)
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="atrium-bench-api-") as tmp:
            workdir = Path(tmp)
            (workdir / "warmup").mkdir()
            log("Migrating, creating the tenant 'bench'…")
            tenant = provision()
            server = Server(tenant, workdir)
            log(f"Starting uvicorn on 127.0.0.1:{server.port}…")
            server.wait_ready()
            token = login(server, tenant["password"])
            verified = check_paths(server, token, tenant["user_id"])
            log(f"Checks passed; load generator: {client}, {args.connections} connections.")
            measurements, warmup = run_rounds(
                args, client, server, redis_client, token, verified["response_bytes"], workdir
            )
            machine = machine_info(client, redis_client, args.database_url)
            exit_code = server.stop()
            server_log = server.log_path.read_text(encoding="utf-8", errors="replace")
            breakdown = None
            if args.breakdown_requests:
                log(f"Breakdown: {args.breakdown_requests} in-process requests per path…")
                breakdown = breakdown_in_process(args, tenant, token)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"Kept database {database_name(args.database_url)!r} and Redis {args.redis_url}.")
        else:
            drop_database(args.database_url)
            redis_client.flushdb()
            log(f"Dropped database {database_name(args.database_url)!r}, flushed {args.redis_url}.")
        run_lock.close()  # releases the advisory lock

    bare, full = summarize(measurements, "bare"), summarize(measurements, "full")
    results = {
        "benchmark": "api",
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 1),
        "parameters": {
            "duration_seconds": args.duration,
            "rounds": args.rounds,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "client": client,
            "db_conn_max_age": args.db_conn_max_age,
            "db_pool": args.db_pool,
            "breakdown_requests": args.breakdown_requests,
            "database": database_name(args.database_url),
            "redis_url": args.redis_url,
            "settings": SETTINGS_MODULE,
            "server_command": shlex.join(["python", *server.command[1:]]),
            "host_header": HOST,
            "paths": PATHS,
        },
        "git": git_state(),
        "checks": verified["checks"],
        "response_bytes": verified["response_bytes"],
        "response_headers": verified["response_headers"],
        "server": {
            "exit_code": exit_code,
            "log_lines": [line for line in server_log.splitlines() if line.strip()][-50:],
        },
        "results": {
            "bare": bare,
            "full": full,
            "comparison": compare(measurements, bare, full),
            "breakdown": breakdown,
            "warmup": warmup,
            "measurements": measurements,
        },
        "machine": {**machine, "load_average_1_5_15_at_start": load_at_start},
    }
    # A pooled run answers another question than the default one: it gets files of its own.
    name = "api" if args.db_pool else "api-nopool"
    write_atomically(args.results_dir / f"{name}.json", json.dumps(results, indent=2) + "\n")
    write_atomically(args.results_dir / f"{name}.md", render_markdown(results))
    print_summary(results)
    log(f"Results in {args.results_dir}/{name}.json and {name}.md")
    if args.check and not results["results"]["comparison"]["met"]:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        print(f"api benchmark: {exc}", file=sys.stderr)
        sys.exit(2)
