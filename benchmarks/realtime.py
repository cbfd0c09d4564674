#!/usr/bin/env python
"""Realtime and background-work benchmark: WebSocket fan-out, and tenant-aware Celery tasks.

In one run, on a database and Redis DBs of its own (created at the start, dropped and
flushed at the end):

1. **Fan-out.** One uvicorn server (``config.asgi``, the real socket stack: origin, tenant
   from ``Host``, JWT on connect, ``EventsConsumer``, channels-redis). C clients of tenant
   A and F of tenant B connect from a separate client process (``benchmarks/rt_clients.py``).
   This process then publishes E events to tenant A with ``publish_to_tenant`` (outside a
   transaction, so at once), each carrying its send time; every A client's delivery
   latency is its receive time minus that send time (one machine, one clock). Then one
   event to tenant B, which every B client must get and no A client may. No A event may
   reach a B client.
2. **Celery overhead.** The throughput of a no-op ``@tenant_task`` (sent inside
   ``tenant_scope``) against a no-op plain task, on the same broker with the same worker
   settings: ``celery.Task`` as base on Atrium's app (same worker), and a plain Celery app
   with no Django or Atrium in its worker (``benchmarks/rt_plain.py``). M tasks of each
   kind, in rounds whose order rotates; wall time from the first send to the last
   completion (each task INCRs a Redis counter). Plus what each step of the tenant task's
   guard costs, timed in-process.

With py-spy (``--py-spy``, or on ``PATH``) it also profiles the server over as many more
events, and the workers' pool processes over one more measurement of each task kind; these
passes are not in the figures.

Results go to benchmarks/results/realtime.{json,md}.
See benchmarks/README.md.

    .venv/bin/python benchmarks/realtime.py                     # the full run
    .venv/bin/python benchmarks/realtime.py --clients 100 --foreign-clients 10 --events 5 \\
        --tasks 200 --rounds 1 --results-dir /tmp/bench        # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import logging
import math
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.common import (  # noqa: E402
    BenchmarkError,
    database_name,
    drop_database,
    free_port,
    git_state,
    log,
    machine_basics,
    percentile,
    write_atomically,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/atrium_bench_rt"
# Three Redis DBs of the benchmark's own: the app's (cache, routing, idempotency keys, the
# task counters), the channel layer's and the Celery broker's, as in production.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
DEFAULT_CHANNEL_REDIS_URL = "redis://127.0.0.1:6379/4"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/1"
DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
REDIS_MARKER_KEY = "atrium-bench:realtime"

TENANT_A, TENANT_B = "fanout-a", "fanout-b"
USERS_PER_TENANT = 10  # sockets use their tokens in turn
EVENTS_PATH = "/ws/events/"
TICK_TYPE = "bench.tick"  # the events to tenant A
CONTROL_TYPE = "bench.control"  # the one event to tenant B at the end
PROFILED_TYPE = "bench.profiled"  # tenant A's events of the pass with py-spy attached

ATRIUM_QUEUE = "bench-rt-atrium"
PLAIN_QUEUE = "bench-rt-plain"
KINDS = ("plain", "atrium_plain", "tenant")
KIND_LABELS = {
    "plain": "plain Celery app, no Django/Atrium in the worker (`rt_plain.plain_noop`)",
    "atrium_plain": "`celery.Task` base on Atrium's app and worker (`rt_tasks.atrium_plain_noop`)",
    "tenant": "`@tenant_task`, sent in `tenant_scope` (`rt_tasks.tenant_noop`)",
}

TARGET_P99_MS = 250.0
TARGET_FOREIGN = 0
TARGET_RATIO = 0.80

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--only", choices=("fanout", "celery"), help="Run one part only.")
    parser.add_argument("--clients", type=int, default=1000, help="Sockets of tenant A.")
    parser.add_argument(
        "--foreign-clients", type=int, default=100, help="Sockets of tenant B, open meanwhile."
    )
    parser.add_argument("--events", type=int, default=20, help="Events published to tenant A.")
    parser.add_argument(
        "--interval", type=float, default=0.2, help="Seconds between two published events."
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="Handshakes in flight at once."
    )
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="What the clients offer: permessage-deflate (as browsers do) or nothing.",
    )
    parser.add_argument("--tasks", type=int, default=2000, help="Tasks per kind and round.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of every task kind.")
    parser.add_argument(
        "--warmup-tasks", type=int, default=200, help="Untimed tasks per kind before round 1."
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="Prefork processes of each Celery worker."
    )
    parser.add_argument(
        "--guard-iterations",
        type=int,
        default=2000,
        help="Iterations of each in-process timing of the tenant task's guard steps.",
    )
    parser.add_argument(
        "--worker-settings",
        default=None,
        help="DJANGO_SETTINGS_MODULE of the Atrium worker only (default: the run's own, "
        "config.settings.dev); to try a settings change before making it.",
    )
    parser.add_argument(
        "--py-spy",
        default=shutil.which("py-spy"),
        help="py-spy binary: profile one extra measurement of each task kind (default: PATH).",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ATRIUM_BENCH_RT_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="Bench database (created and dropped; its name must contain 'bench').",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("ATRIUM_BENCH_RT_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis DB of the app (REDIS_URL): cache, routing, idempotency, counters.",
    )
    parser.add_argument(
        "--channel-redis-url",
        default=os.environ.get("ATRIUM_BENCH_RT_CHANNEL_REDIS_URL", DEFAULT_CHANNEL_REDIS_URL),
        help="Redis DB of the channel layer (CHANNEL_REDIS_URL).",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("ATRIUM_BENCH_RT_BROKER_URL", DEFAULT_BROKER_URL),
        help="Redis DB of the Celery broker (CELERY_BROKER_URL).",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="Where results go."
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the bench database and Redis DBs at the end."
    )
    parser.add_argument(
        "--check", action="store_true", help="Exit with status 1 when a target is missed."
    )
    args = parser.parse_args(argv)
    for name in ("clients", "events", "tasks", "rounds", "connect_concurrency", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.foreign_clients < 1:
        parser.error("--foreign-clients must be at least 1: it is what isolation is checked on")
    if args.interval < 0 or args.warmup_tasks < 0 or args.guard_iterations < 1:
        parser.error("--interval and --warmup-tasks must be 0 or more, --guard-iterations 1+")
    urls = [args.redis_url, args.channel_redis_url, args.broker_url]
    if len(set(urls)) != len(urls):
        parser.error("--redis-url, --channel-redis-url and --broker-url must be distinct DBs")
    return args


# ----------------------------------------------------------------------------- services


def claim_redis_db(url: str) -> redis.Redis:
    """A bench Redis DB, emptied; refuses a DB holding keys the benchmark did not write."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.ping()
    size = client.dbsize()
    if size and not client.exists(REDIS_MARKER_KEY):
        raise BenchmarkError(
            f"Redis DB {url} holds {size} keys that this benchmark did not write; "
            "choose a free one (--redis-url, --channel-redis-url, --broker-url)."
        )
    client.flushdb()
    client.set(REDIS_MARKER_KEY, "1")
    return client


def configure_environment(args: argparse.Namespace) -> None:
    """Point Django, the server and the workers at the bench services (before setup)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ["DEBUG"] = "0"  # DEBUG records every query; production runs without it
    os.environ["LOG_LEVEL"] = "WARNING"  # this process and the server; workers get INFO
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["CHANNEL_REDIS_URL"] = args.channel_redis_url
    os.environ["CELERY_BROKER_URL"] = args.broker_url
    os.environ.pop("CELERY_RESULT_BACKEND", None)  # the settings' default: the broker's DB
    # tenant_create() queues a pool refill on the default queue, which no bench worker
    # consumes (they listen on queues of their own); 0 makes it a no-op anyway.
    os.environ["ATRIUM_SPARE_POOL_SIZE"] = "0"
    # A socket is closed when its token expires: far beyond the run.
    os.environ["JWT_ACCESS_MINUTES"] = "120"
    # Sockets share USERS_PER_TENANT tokens, far more than the default cap per user: the cap
    # stays on (its leases are part of what is measured), above what the run opens.
    os.environ["ATRIUM_WS_MAX_SOCKETS_PER_USER"] = "100000"
    os.environ["ATRIUM_BENCH_RT_COUNTER_URL"] = args.redis_url
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )


def raise_open_files(needed: int) -> list[int]:
    """Raise this process's (and so its children's) open-file limit to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchmarkError(
            f"The hard open-file limit is {hard}, the run needs about {needed}: "
            "raise it (ulimit -Hn) or use fewer clients."
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return [soft, hard]


# ----------------------------------------------------------------------------- statistics


def summarize_ms(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.50), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
        "min_ms": round(min(values), 2),
    }


# ----------------------------------------------------------------------------- processes


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its live children (a Celery worker and its pool processes)."""
    return process_cpu_seconds(pid) + sum(process_cpu_seconds(c) for c in children_of(pid))


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def stop_process_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a process started with ``start_new_session=True``, and whatever it forked."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # children of a parent that is gone
        os.killpg(proc.pid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Server:
    """``uvicorn config.asgi:application``, one process, on 127.0.0.1 and a free port."""

    def __init__(self, workdir: Path, app: str = "config.asgi:application") -> None:
        self.port = free_port()
        self.log_path = workdir / "uvicorn.log"
        self.args = [
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--ws-max-size", "65536", "--log-level", "warning", "--no-access-log"),
        ]
        self.app = app
        self.command = [sys.executable, "-m", "uvicorn", app, *self.args]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, host: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchmarkError(
                    f"uvicorn exited ({self.proc.returncode}):\n{log_tail(self.log_path)}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz", headers={"Host": host})
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchmarkError(f"uvicorn did not answer /healthz in {timeout:.0f} s")

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchmarkError(f"uvicorn died:\n{log_tail(self.log_path)}")

    def log_counts(self) -> dict[str, int]:
        """How often each known problem has been logged so far (see SERVER_LOG_PATTERNS)."""
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return {name: text.count(needle) for name, needle in SERVER_LOG_PATTERNS.items()}

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


# What the server logs when something goes wrong on a socket (counted per phase).
SERVER_LOG_PATTERNS = {
    "consumer crashed (Exception in ASGI application)": "Exception in ASGI application",
    "redis read timeout (redis.exceptions.TimeoutError)": "redis.exceptions.TimeoutError",
    "channel-layer pool exhausted (MaxConnectionsError)": "MaxConnectionsError: Too many",
    "could not leave a group on disconnect": "realtime: could not leave",
    "could not join the groups on connect": "realtime: cannot join the groups",
    "error logged (ERROR)": " ERROR ",
    "warning logged (WARNING)": " WARNING ",
}


def count_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {
        name: after[name] - before.get(name, 0)
        for name in after
        if after[name] - before.get(name, 0)
    }


class Clients:
    """The client process (``benchmarks/rt_clients.py``), spoken to in JSON lines."""

    def __init__(self, config: dict, workdir: Path) -> None:
        self.config_path = workdir / "clients.json"
        self.results_path = Path(config["results_path"])
        self.stderr_path = workdir / "clients.stderr"
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO_ROOT / "benchmarks" / "rt_clients.py"),
                str(self.config_path),
            ],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )

    def read_event(self, expected: str) -> dict:
        line = self.proc.stdout.readline()  # bounded by the client's own timeouts
        if not line:
            self.proc.wait(timeout=10)
            raise BenchmarkError(
                f"the client process exited ({self.proc.returncode}) before {expected!r}:\n"
                f"{log_tail(self.stderr_path)}"
            )
        event = json.loads(line)
        if event.get("event") != expected:
            raise BenchmarkError(f"the client process said {event}, expected {expected!r}")
        return event

    def send(self, command: dict) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def results(self) -> dict:
        return json.loads(self.results_path.read_text(encoding="utf-8"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        stop_process_group(self.proc, timeout=30)
        self._stderr.close()


class Worker:
    """``celery worker``, prefork, on a queue of its own; stopped with its pool processes."""

    def __init__(
        self,
        *,
        app: str,
        queue: str,
        concurrency: int,
        workdir: Path,
        env: dict[str, str],
        include: str | None = None,
    ) -> None:
        self.queue = queue
        self.hostname = f"{queue}@localhost"
        self.log_path = workdir / f"worker-{queue}.log"
        self.command = [
            *(sys.executable, "-m", "celery", "-A", app, "worker"),
            *("--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO"),
            *("--queues", queue, "--hostname", self.hostname),
            *(("--include", include) if include else ()),
            *("--without-heartbeat", "--without-gossip", "--without-mingle"),
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchmarkError(f"the worker {self.hostname} died:\n{log_tail(self.log_path)}")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process_group(self.proc)
        self._log.close()


# ----------------------------------------------------------------------------- tenants


def prepare_tenants() -> dict[str, Any]:
    """Migrate, create the two tenants and their users, mint one access token per user."""
    from django.core.management import call_command

    from atrium.platform.accounts.models import User
    from atrium.platform.accounts.tokens import token_pair_issue
    from atrium.tenants.context import tenant_scope
    from atrium.tenants.provisioning import tenant_create

    log("Migrating the bench database (public and template)…")
    call_command("tenants", "migrate", stdout=io.StringIO())
    prepared = {}
    for label, slug in (("A", TENANT_A), ("B", TENANT_B)):
        created = tenant_create(slug=slug, name=f"Bench {slug}", owner_email=f"owner@{slug}.test")
        tenant = created.tenant
        with tenant_scope(tenant):
            users = [User.objects.get(email=f"owner@{slug}.test")]
            users += [
                User.objects.create_user(email=f"member{index}@{slug}.test")
                for index in range(1, USERS_PER_TENANT)
            ]
            tokens = [token_pair_issue(user=user).access for user in users]
        prepared[label] = {
            "tenant": tenant,
            "slug": slug,
            "schema": tenant.schema_name,
            "host": f"{slug}.localhost",
            "tokens": tokens,
        }
        log(f"Tenant {label}: {slug} (schema {tenant.schema_name}), {len(users)} users.")
    return prepared


# ----------------------------------------------------------------------------- fan-out


class GroupSendTimer:
    """Times channels-redis' ``group_send`` in this process (the publishing side)."""

    def __init__(self) -> None:
        from channels_redis.core import RedisChannelLayer
        from channels_redis.pubsub import RedisPubSubLoopLayer

        self.originals = {cls: cls.group_send for cls in (RedisChannelLayer, RedisPubSubLoopLayer)}
        self.samples: list[float] = []
        samples = self.samples

        def timed_version(original):
            async def timed(layer, group, message):
                started = time.perf_counter()
                try:
                    return await original(layer, group, message)
                finally:
                    samples.append((time.perf_counter() - started) * 1000)

            return timed

        for cls, original in self.originals.items():
            cls.group_send = timed_version(original)

    def restore(self) -> None:
        for cls, original in self.originals.items():
            cls.group_send = original


class RecordsHandler(logging.Handler):
    """Keeps channels-redis' "over capacity" records (logged at INFO by group_send)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pubsub_layer() -> bool:
    from django.conf import settings

    return settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("RedisPubSubChannelLayer")


def channel_layer_state(client: redis.Redis, schema: str) -> dict:
    """Group size and the server's channel keys in the channel layer's Redis DB."""
    from django.conf import settings

    if pubsub_layer():
        return {
            "group_key": None,
            "group_members": None,
            "process_channel_keys": None,
            "process_keys": [],
            "pending_messages": 0,
        }
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    group_key = f"{prefix}:group:t.{schema}.tenant"
    members = [name.decode() for name in client.zrange(group_key, 0, -1)]
    # A process-local channel is "specific.<process>!<socket>"; channels-redis keeps the
    # messages of every socket of one process in one sorted set, "<prefix>specific.<process>!".
    process_keys = sorted({f"{prefix}{name.partition('!')[0]}!" for name in members})
    return {
        "group_key": group_key,
        "group_members": len(members),
        "process_channel_keys": len(process_keys),
        "process_keys": process_keys,
        "pending_messages": sum(client.zcard(key) for key in process_keys),
    }


def publish(tenant, label: str, event_type: str, seq: int) -> tuple[float, float]:
    """One event to every socket of ``tenant``; returns (send time, publish ms)."""
    from atrium.platform.realtime.events import publish_to_tenant
    from atrium.tenants.context import tenant_scope

    with tenant_scope(tenant):
        sent = time.time()
        started = time.perf_counter()
        publish_to_tenant(event_type, id=seq, data={"sent": sent, "seq": seq, "tenant": label})
        elapsed = (time.perf_counter() - started) * 1000
    return sent, elapsed


def frame_key(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (package/file.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    for marker in ("site-packages/", str(REPO_ROOT) + "/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def read_py_spy_raw(paths: list[Path]) -> list[tuple[list[str], int]]:
    stacks = []
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            stack, _, number = line.rpartition(" ")
            if stack and number.isdigit():
                stacks.append((stack.split(";"), int(number)))
    return stacks


def summarize_stacks(stacks: list[tuple[list[str], int]], top: int = 25) -> dict:
    """Functions by inclusive share (on the stack) and by self share (the leaf)."""
    total = sum(number for _, number in stacks) or 1
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    for frames, number in stacks:
        for key in {frame_key(frame) for frame in frames}:
            inclusive[key] = inclusive.get(key, 0) + number
        key = frame_key(frames[-1])
        leaf[key] = leaf.get(key, 0) + number

    def ranked(counts: dict[str, int], skip_roots: bool) -> list[dict]:
        rows = sorted(counts.items(), key=lambda item: -item[1])
        if skip_roots:  # the loop and the process' entry frames are on every stack
            rows = [row for row in rows if row[1] / total < 0.9]
        return [{"function": key, "share": round(n / total, 3)} for key, n in rows[:top]]

    return {
        "samples": total,
        "inclusive": ranked(inclusive, skip_roots=True),
        "self": ranked(leaf, skip_roots=False),
    }


def start_py_spy(py_spy: str, pid: int, output: Path, *, rate: int, idle: bool):
    command = [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    command += ["--output", str(output), "--nonblocking", *(["--idle"] if idle else [])]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def stop_py_spy(spy: subprocess.Popen, output: Path) -> None:
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(timeout=5)
    if not output.exists():
        raise BenchmarkError(f"py-spy wrote no profile: {spy.stderr.read().decode()[-500:]}")


def profile_server(
    args: argparse.Namespace, server: Server, tenant, clients: Clients, workdir: Path
) -> dict:
    """The server's CPU by function while it fans out ``events`` more events to tenant A
    (py-spy, CPU samples only, without pausing it); these events are not in the figures."""
    output = workdir / "py-spy-server.txt"
    rate = 200
    spy = start_py_spy(args.py_spy, server.proc.pid, output, rate=rate, idle=False)
    time.sleep(1.0)
    if spy.poll() is not None:
        raise BenchmarkError(f"py-spy could not attach: {spy.stderr.read().decode()[-500:]}")
    cpu_0 = process_cpu_seconds(server.proc.pid)
    next_at = time.monotonic()
    for seq in range(args.events):
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        publish(tenant, "A", PROFILED_TYPE, seq)
        next_at += args.interval
    clients.send({"cmd": "wait", "expect": {"A": 2 * args.events, "B": 1}, "timeout": 60})
    phase = clients.read_event("received")
    cpu = process_cpu_seconds(server.proc.pid) - cpu_0
    stop_py_spy(spy, output)
    return {
        "events": args.events,
        "rate_hz": rate,
        "server_cpu_seconds": round(cpu, 3),
        "complete": phase["complete"],
        **summarize_stacks(read_py_spy_raw([output])),
        "raw_profile": str(output),
    }


def run_fanout(args: argparse.Namespace, tenants: dict, workdir: Path) -> dict:
    from django.conf import settings

    channel_redis = redis.Redis.from_url(args.channel_redis_url)
    server = Server(workdir, "config.asgi:application")
    clients: Clients | None = None
    timer: GroupSendTimer | None = None
    capacity_log = RecordsHandler()
    layer_logger = logging.getLogger("channels_redis.core")
    try:
        log(f"Starting uvicorn on 127.0.0.1:{server.port}…")
        server.wait_ready(tenants["A"]["host"])
        rss_idle = rss_mib(server.proc.pid)
        config = {
            "port": server.port,
            "path": EVENTS_PATH,
            "compression": args.compression,
            "concurrency": args.connect_concurrency,
            "open_timeout": 30,
            "connect_phase_timeout": 300,
            "settle_seconds": 1.0,
            "grace_seconds": 1.0,
            "results_path": str(workdir / "clients-results.json"),
            "groups": [
                {
                    "label": label,
                    "host": tenants[label]["host"],
                    "tokens": tenants[label]["tokens"],
                    "count": count,
                }
                for label, count in (("A", args.clients), ("B", args.foreign_clients))
            ],
        }
        log(
            f"Connecting {args.clients} sockets to {TENANT_A} and {args.foreign_clients} to "
            f"{TENANT_B} ({args.connect_concurrency} handshakes at a time)…"
        )
        server_cpu_0 = process_cpu_seconds(server.proc.pid)
        clients = Clients(config, workdir)
        connected = clients.read_event("connected")
        log_after_connect = server.log_counts()
        server_cpu_connect = process_cpu_seconds(server.proc.pid) - server_cpu_0
        server.alive()
        for label, group in connected["groups"].items():
            if group["connected"] != group["requested"]:
                raise BenchmarkError(
                    f"Tenant {label}: {group['connected']} of {group['requested']} sockets "
                    f"connected: {group}"
                )
            if group["open_after_settle"] != group["requested"]:
                # The server dropped accepted sockets (see the server log in the results):
                # measured on, they count as missing deliveries and closed sockets.
                log(
                    f"  WARNING tenant {label}: {group['requested'] - group['open_after_settle']}"
                    f" sockets closed by the server after connecting: "
                    f"{group['closed_after_connect']}"
                )
        requested = args.clients + args.foreign_clients
        log(
            f"  {requested} sockets open in {connected['wall_seconds']:.1f} s "
            f"({requested / connected['wall_seconds']:.0f}/s); A connect p50 "
            f"{connected['groups']['A']['connect_ms_p50']:.1f} ms, p99 "
            f"{connected['groups']['A']['connect_ms_p99']:.1f} ms"
        )
        state_before = channel_layer_state(channel_redis, tenants["A"]["schema"])
        if state_before["group_members"] not in (None, args.clients):
            raise BenchmarkError(
                f"The group {state_before['group_key']} has {state_before['group_members']} "
                f"members, not {args.clients}."
            )
        rss_connected = rss_mib(server.proc.pid)

        timer = GroupSendTimer()
        layer_logger.addHandler(capacity_log)
        previous_level = layer_logger.level
        layer_logger.setLevel(logging.INFO)
        log(f"Publishing {args.events} events to {TENANT_A}, one every {args.interval} s…")
        redis_cpu_0 = redis_cpu_seconds(channel_redis)
        server_cpu_1 = process_cpu_seconds(server.proc.pid)
        own_cpu_1 = time.process_time()
        events = []
        next_at = time.monotonic()
        for seq in range(args.events):
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            before = len(timer.samples)
            sent, publish_ms = publish(tenants["A"]["tenant"], "A", TICK_TYPE, seq)
            pending = sum(channel_redis.zcard(key) for key in state_before["process_keys"])
            events.append(
                {
                    "seq": seq,
                    "sent": sent,
                    "publish_ms": round(publish_ms, 3),
                    "group_send_ms": round(sum(timer.samples[before:]), 3),
                    "pending_after_publish": pending,
                }
            )
            next_at += args.interval
        time.sleep(max(args.interval, 0.2))
        control_sent, control_publish_ms = publish(tenants["B"]["tenant"], "B", CONTROL_TYPE, 0)
        own_cpu = time.process_time() - own_cpu_1
        clients.send({"cmd": "wait", "expect": {"A": args.events, "B": 1}, "timeout": 60})
        phase = clients.read_event("received")
        server_cpu_events = process_cpu_seconds(server.proc.pid) - server_cpu_1
        log_after_events = server.log_counts()
        redis_cpu_events = redis_cpu_seconds(channel_redis) - redis_cpu_0
        layer_logger.setLevel(previous_level)
        server.alive()
        server_profile = None
        if args.py_spy:
            log(f"Profiling the server with py-spy over {args.events} more events (not timed)…")
            server_profile = profile_server(args, server, tenants["A"]["tenant"], clients, workdir)
        log_before_close = server.log_counts()
        clients.send({"cmd": "close"})
        clients.read_event("done")
        time.sleep(1.0)  # the server's disconnect handlers
        log_after_close = server.log_counts()
        observed = clients.results()
        state_after = channel_layer_state(channel_redis, tenants["A"]["schema"])
    finally:
        layer_logger.removeHandler(capacity_log)
        if timer is not None:
            timer.restore()
        if clients is not None:
            clients.stop()
        server.stop()

    analysis = analyse_deliveries(observed, events, control_sent, args)
    config_layer = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    return {
        "server": {
            "command": shlex.join(["python", "-m", "uvicorn", server.app])
            + " "
            + shlex.join(server.args),
            "ws_implementation": "uvicorn auto: websockets-sansio (websockets is installed)",
            "per_message_deflate_server": True,
            "rss_mib_idle": rss_idle,
            "rss_mib_connected": rss_connected,
            "cpu_seconds_connect_phase": round(server_cpu_connect, 3),
            "cpu_seconds_event_phase": round(server_cpu_events, 3),
        },
        "clients_process": {
            "event_loop": observed["event_loop"],
            "compression_offered": args.compression,
            "connect_concurrency": args.connect_concurrency,
            "cpu_seconds_connect_phase": round(connected["cpu_seconds"], 3),
            "cpu_seconds_event_phase": round(phase["cpu_seconds"], 3),
            "loop_lag_ms_event_phase": {
                k: (round(v, 2) if isinstance(v, float) else v)
                for k, v in phase["loop_lag_ms"].items()
            },
            "all_expected_received_before_timeout": phase["complete"],
        },
        "publisher": {
            "cpu_seconds_event_phase": round(own_cpu, 3),
            "publish_ms": summarize_ms([e["publish_ms"] for e in events]),
            "group_send_ms": summarize_ms([e["group_send_ms"] for e in events]),
            "control_publish_ms": round(control_publish_ms, 3),
        },
        "redis_channel_db_cpu_seconds_event_phase": round(redis_cpu_events, 3),
        "connect": {
            "wall_seconds": round(connected["wall_seconds"], 2),
            "sockets_per_second": round(
                (args.clients + args.foreign_clients) / connected["wall_seconds"], 1
            ),
            "groups": connected["groups"],
        },
        "channel_layer": {
            "backend": settings.CHANNEL_LAYERS["default"]["BACKEND"],
            "capacity": config_layer["capacity"],
            "expiry": config_layer["expiry"],
            "group_members_before": state_before["group_members"],
            "server_channel_keys": state_before["process_channel_keys"],
            "max_pending_after_publish": max(e["pending_after_publish"] for e in events),
            "pending_at_end": state_after["pending_messages"],
            "over_capacity_log_records": capacity_log.messages,
        },
        "server_log": {
            "log_file": str(server.log_path),
            "connect_phase": count_delta(log_after_connect, {}),
            "event_phase": count_delta(log_after_events, log_after_connect),
            "profiled_pass": count_delta(log_before_close, log_after_events),
            "clients_closing": count_delta(log_after_close, log_before_close),
        },
        "events": events,
        **analysis,
        "server_profile_py_spy": server_profile,
    }


def analyse_deliveries(
    observed: dict, events: list[dict], control_sent: float, args: argparse.Namespace
) -> dict:
    """Latencies of tenant A's deliveries; anything that crossed between the tenants."""
    latencies: list[float] = []
    per_event: dict[int, list[float]] = {e["seq"]: [] for e in events}
    duplicates = foreign_to_b = foreign_to_a = other = 0
    control_latencies: list[float] = []
    profiled: list[float] = []
    other_types: dict[str, int] = {}
    for sock in observed["sockets"]:
        seen: set[object] = set()
        for frame in sock["frames"]:
            kind = frame["type"]
            if sock["label"] == "A" and kind == TICK_TYPE:
                if frame["id"] in seen:
                    duplicates += 1
                    continue
                seen.add(frame["id"])
                latency = (frame["t"] - frame["sent"]) * 1000
                latencies.append(latency)
                per_event.setdefault(frame["id"], []).append(latency)
            elif sock["label"] == "B" and kind == CONTROL_TYPE:
                control_latencies.append((frame["t"] - control_sent) * 1000)
            elif sock["label"] == "A" and kind == PROFILED_TYPE:
                profiled.append((frame["t"] - frame["sent"]) * 1000)
            elif sock["label"] == "B" and kind in (TICK_TYPE, PROFILED_TYPE):
                foreign_to_b += 1
            elif sock["label"] == "A" and kind == CONTROL_TYPE:
                foreign_to_a += 1
            else:
                other += 1
                other_types[str(kind)] = other_types.get(str(kind), 0) + 1
    dropped: dict[str, int] = {}
    for sock in observed["sockets"]:
        if sock["connected"] and not sock["open_at_end"]:
            key = f"{sock['label']}: close code {sock['close_code']}"
            dropped[key] = dropped.get(key, 0) + 1
    expected = args.clients * args.events
    per_event_rows = []
    for event in events:
        values = per_event.get(event["seq"], [])
        per_event_rows.append(
            {
                "seq": event["seq"],
                "deliveries": len(values),
                "first_ms": round(min(values), 2) if values else None,
                "p50_ms": round(percentile(values, 0.5), 2) if values else None,
                "last_ms": round(max(values), 2) if values else None,
                "spread_ms": round(max(values) - min(values), 2) if values else None,
                "publish_ms": event["publish_ms"],
                "group_send_ms": event["group_send_ms"],
            }
        )
    return {
        "deliveries": {
            "tenant_a_expected": expected,
            "tenant_a_received": len(latencies),
            "tenant_a_missing": expected - len(latencies),
            "tenant_a_duplicates": duplicates,
            "tenant_b_received_tenant_a_events": foreign_to_b,
            "tenant_b_control_expected": args.foreign_clients,
            "tenant_b_control_received": len(control_latencies),
            "tenant_a_received_tenant_b_event": foreign_to_a,
            "sockets_closed_by_the_server_during_the_run": dropped,
            "other_frames": other,
            "other_frame_types": other_types,
        },
        "latency": summarize_ms(latencies),
        "latency_control_event_to_b": summarize_ms(control_latencies),
        "latency_profiled_pass_py_spy_attached": summarize_ms(profiled),
        "latency_samples_ms": [round(v, 2) for v in latencies],
        "per_event": per_event_rows,
    }


# ----------------------------------------------------------------------------- Celery


def plain_celery_conf() -> dict[str, Any]:
    """The Atrium app's Celery settings (CELERY_*, beat's aside) as plain Celery config."""
    from django.conf import settings

    conf = {}
    for name in dir(settings):
        if name.startswith("CELERY_") and "BEAT" not in name:
            conf[name.removeprefix("CELERY_").lower()] = getattr(settings, name)
    json.dumps(conf)  # everything must travel through the environment
    return conf


def wait_until(check: Callable[[], object], what: str, timeout: float, alive=None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if alive is not None:
            alive()
        time.sleep(0.05)
    raise BenchmarkError(f"timed out after {timeout:.0f} s waiting for {what}")


_stats_conn: psycopg.Connection | None = None


def database_sessions() -> int:
    """Sessions ever opened on the bench database (pg_stat_database, counted at start)."""
    global _stats_conn
    if _stats_conn is None or _stats_conn.closed:
        _stats_conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    row = _stats_conn.execute(
        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(row[0])


def measure_kind(
    kind: str,
    count: int,
    counter: redis.Redis,
    send: Callable[[int, str], None],
    worker: Worker,
    broker: redis.Redis,
) -> dict:
    """Send ``count`` tasks of one kind; wall time from the first send to the last INCR."""
    key = f"bench:rt:done:{kind}:{uuid.uuid4().hex[:8]}"
    sessions_0 = database_sessions()
    timeout = max(120.0, count / 10)
    worker_cpu_0 = worker.cpu_seconds()
    redis_cpu_0 = redis_cpu_seconds(counter)
    own_cpu_0 = time.process_time()
    started = time.perf_counter()
    send(count, key)
    sent = time.perf_counter()
    own_cpu_send = time.process_time() - own_cpu_0
    while True:
        done = int(counter.get(key) or 0)
        if done >= count:
            break
        if time.perf_counter() - started > timeout:
            raise BenchmarkError(f"{kind}: {done} of {count} tasks done after {timeout:.0f} s")
        worker.alive()
        time.sleep(0.002)
    finished = time.perf_counter()
    worker_cpu = worker.cpu_seconds() - worker_cpu_0
    redis_cpu = redis_cpu_seconds(counter) - redis_cpu_0
    time.sleep(0.2)
    final = int(counter.get(key) or 0)
    if final != count:
        raise BenchmarkError(f"{kind}: the counter reached {final} for {count} tasks sent")
    sessions = database_sessions() - sessions_0
    queue = worker.queue
    if broker.llen(queue):
        raise BenchmarkError(f"{kind}: {broker.llen(queue)} messages left in {queue}")
    wall = finished - started
    return {
        "tasks": count,
        "wall_seconds": round(wall, 4),
        "send_seconds": round(sent - started, 4),
        "tasks_per_second": round(count / wall, 1),
        "worker_cpu_ms_per_task": round(worker_cpu * 1000 / count, 3),
        "sender_cpu_ms_per_task": round(own_cpu_send * 1000 / count, 3),
        "redis_cpu_ms_per_task": round(redis_cpu * 1000 / count, 3),
        "postgres_sessions_opened": sessions,
    }


def guard_costs(tenant, iterations: int, workdir: Path) -> dict:
    """What each step the tenant task adds costs, timed in this process (µs per call).

    The worker does, per tenant task and beyond a plain task: look the tenant up by schema
    (``_tenant_for_schema``: a query in the public scope), enter and leave its scope, claim
    the idempotency key (EVALSHA) and mark it done (SET), and write one INFO log line.
    """
    from atrium.platform.idempotency import claim as _claim
    from atrium.tenants.celery import _tenant_for_schema
    from atrium.tenants.context import public_scope, tenant_scope
    from config.celery import app as celery_app

    task = celery_app.tasks["bench.rt.tenant_noop"]
    schema = tenant.schema_name

    def timed(body: Callable[[], object]) -> float:
        for _ in range(min(50, iterations)):
            body()
        started = time.perf_counter()
        for _ in range(iterations):
            body()
        return round((time.perf_counter() - started) * 1e6 / iterations, 1)

    def claim_and_done() -> None:
        owner = uuid.uuid4().hex
        claim = _claim(task.name, owner, owner, task.idempotency_lease)
        claim.done(task.idempotency_ttl)

    def enter_tenant() -> None:
        with tenant_scope(tenant):
            pass

    def enter_public() -> None:
        with public_scope():
            pass

    task_logger = logging.getLogger("atrium.tasks")
    handler = logging.FileHandler(workdir / "guard-log-lines.log")
    # The format of a Celery worker's log lines (worker_log_format).
    handler.setFormatter(
        logging.Formatter("[%(asctime)s: %(levelname)s/%(processName)s] %(message)s")
    )
    saved = (task_logger.level, task_logger.propagate)
    task_logger.addHandler(handler)
    task_logger.setLevel(logging.INFO)
    task_logger.propagate = False
    request = SimpleNamespace(id=str(uuid.uuid4()), retries=0)
    try:
        log_line = timed(
            lambda: task._log_run(request, schema, "success", time.perf_counter(), None)
        )
    finally:
        task_logger.removeHandler(handler)
        task_logger.setLevel(saved[0])
        task_logger.propagate = saved[1]
        handler.close()
    with tenant_scope(tenant):
        claim = timed(claim_and_done)
    costs = {
        "tenant_lookup_query_us": timed(lambda: _tenant_for_schema(schema)),
        "tenant_scope_enter_leave_us": timed(enter_tenant),
        "public_scope_enter_leave_us": timed(enter_public),
        "idempotency_claim_and_done_us": claim,
        "log_line_us": log_line,
    }
    costs["sum_of_tenant_steps_us"] = round(
        costs["tenant_lookup_query_us"]
        + costs["tenant_scope_enter_leave_us"]
        + costs["idempotency_claim_and_done_us"]
        + costs["log_line_us"],
        1,
    )
    costs["iterations"] = iterations
    return costs


# Where a pool process's time goes, by the first frame (from the leaf) that names a step.
PROFILE_CATEGORIES = (
    ("tenant lookup (SQL in the public schema)", ("_tenant_for_schema",)),
    ("idempotency claim / done / free (Redis)", ("_claim (", "done (", "free (")),
    ("one log line per run (atrium.tasks)", ("_log_run",)),
    ("task body (INCR)", ("tenant_noop", "atrium_plain_noop", "plain_noop")),
    ("enter / leave the task's scope", ("_enter_task_scope", "_leave_task_scope")),
    ("Celery's Django fixup (connection checks)", ("fixups/django.py",)),
    ("Celery tracer and its signals, other", ("trace_task", "fast_trace_task")),
    ("pool: waiting for and reading the next task", ("workloop",)),
)


def categorize_stack(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in PROFILE_CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def profile_kind(
    py_spy: str,
    kind: str,
    count: int,
    counter: redis.Redis,
    send: Callable[[int, str], None],
    worker: Worker,
    broker: redis.Redis,
    workdir: Path,
    rate: int = 200,
) -> dict:
    """One more measurement of ``kind`` with py-spy sampling each pool process (wall time,
    idle included, without pausing them); samples grouped by PROFILE_CATEGORIES."""
    pool = children_of(worker.proc.pid)
    spies = []
    for pid in pool:
        output = workdir / f"py-spy-{kind}-{pid}.txt"
        spies.append((start_py_spy(py_spy, pid, output, rate=rate, idle=True), output))
    time.sleep(1.0)  # py-spy attaches
    for spy, _ in spies:
        if spy.poll() is not None:
            raise BenchmarkError(f"py-spy could not attach: {spy.stderr.read().decode()[-500:]}")
    measured = measure_kind(kind, count, counter, send, worker, broker)
    for spy, output in spies:
        stop_py_spy(spy, output)
    samples: dict[str, int] = {}
    for frames, number in read_py_spy_raw([output for _, output in spies]):
        category = categorize_stack(";".join(frames))
        samples[category] = samples.get(category, 0) + number
    total = sum(samples.values()) or 1
    busy = total - samples.get("pool: waiting for and reading the next task", 0)
    return {
        "measurement": measured,
        "pool_processes": len(pool),
        "rate_hz": rate,
        "samples": total,
        "categories": {
            name: {
                "share_of_pool_time": round(number / total, 3),
                # Process time (summed over the pool processes) per task, in ms.
                "ms_per_task": round(number / rate * 1000 / count, 3),
            }
            for name, number in sorted(samples.items(), key=lambda item: -item[1])
        },
        "busy_ms_per_task": round(busy / rate * 1000 / count, 3),
        "raw_profiles": [str(output) for _, output in spies],
    }


def run_celery(args: argparse.Namespace, tenants: dict, workdir: Path) -> dict:
    from atrium.tenants.context import tenant_scope
    from config.celery import app as celery_app

    conf = plain_celery_conf()
    os.environ["ATRIUM_BENCH_RT_PLAIN_CONF"] = json.dumps(conf)
    import benchmarks.rt_tasks  # noqa: F401  (registers the bench tasks on Atrium's app)
    from benchmarks import rt_plain

    counter = redis.Redis.from_url(args.redis_url)
    broker = redis.Redis.from_url(args.broker_url)
    tenant = tenants["A"]["tenant"]
    tenant_task = celery_app.tasks["bench.rt.tenant_noop"]
    atrium_plain_task = celery_app.tasks["bench.rt.atrium_plain_noop"]
    plain_task = rt_plain.app.tasks["bench.rt.plain_noop"]

    def send_tenant(count: int, key: str) -> None:
        with tenant_scope(tenant):
            for _ in range(count):
                tenant_task.apply_async((key,), queue=ATRIUM_QUEUE)

    def send_atrium_plain(count: int, key: str) -> None:
        for _ in range(count):
            atrium_plain_task.apply_async((key,), queue=ATRIUM_QUEUE)

    def send_plain(count: int, key: str) -> None:
        for _ in range(count):
            plain_task.apply_async((key,), queue=PLAIN_QUEUE)

    plain_env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    atrium_env = dict(os.environ, LOG_LEVEL="INFO")
    if args.worker_settings:
        atrium_env["DJANGO_SETTINGS_MODULE"] = args.worker_settings
    workers: dict[str, Worker] = {}
    try:
        log(f"Starting two Celery workers (prefork, concurrency {args.concurrency})…")
        workers["atrium"] = Worker(
            app="config.celery",
            queue=ATRIUM_QUEUE,
            concurrency=args.concurrency,
            workdir=workdir,
            env=atrium_env,
            include="benchmarks.rt_tasks",
        )
        workers["plain"] = Worker(
            app="benchmarks.rt_plain",
            queue=PLAIN_QUEUE,
            concurrency=args.concurrency,
            workdir=workdir,
            env=plain_env,
        )
        for worker in workers.values():
            wait_until(
                lambda w=worker: celery_app.control.ping(destination=[w.hostname], timeout=0.5),
                f"{worker.hostname} to answer a ping",
                timeout=90,
                alive=worker.alive,
            )
        probe_key = f"bench:rt:probe:{uuid.uuid4().hex[:8]}"
        rt_plain.app.tasks["bench.rt.plain_probe"].apply_async((probe_key,), queue=PLAIN_QUEUE)
        probe = json.loads(wait_until(lambda: counter.get(probe_key), "the plain probe", 30))
        if probe["atrium_loaded"] or probe["django_loaded"]:
            raise BenchmarkError(f"The plain worker is not plain: {probe}")
        kinds = {
            "plain": (send_plain, workers["plain"]),
            "atrium_plain": (send_atrium_plain, workers["atrium"]),
            "tenant": (send_tenant, workers["atrium"]),
        }
        if args.warmup_tasks:
            log(f"Warm-up: {args.warmup_tasks} tasks of each kind (untimed)…")
            for kind in KINDS:
                send, worker = kinds[kind]
                measure_kind(kind, args.warmup_tasks, counter, send, worker, broker)
        rounds: list[dict[str, dict]] = []
        for index in range(args.rounds):
            order = KINDS[index % len(KINDS) :] + KINDS[: index % len(KINDS)]
            results = {}
            for kind in order:
                send, worker = kinds[kind]
                results[kind] = measure_kind(kind, args.tasks, counter, send, worker, broker)
                results[kind]["position"] = order.index(kind)
                log(
                    f"  round {index + 1}/{args.rounds} {kind:<13} "
                    f"{results[kind]['tasks_per_second']:>8.1f} tasks/s "
                    f"(send {results[kind]['send_seconds']:.2f} s of "
                    f"{results[kind]['wall_seconds']:.2f} s; worker CPU "
                    f"{results[kind]['worker_cpu_ms_per_task']:.2f} ms/task; "
                    f"{results[kind]['postgres_sessions_opened']} PostgreSQL sessions opened)"
                )
            rounds.append(results)
        profiles = {}
        if args.py_spy:
            log(f"Profiling one more measurement of each kind with {args.py_spy}…")
            for kind in KINDS:
                send, worker = kinds[kind]
                profiles[kind] = profile_kind(
                    args.py_spy, kind, args.tasks, counter, send, worker, broker, workdir
                )
    finally:
        for worker in workers.values():
            worker.stop()
        with contextlib.suppress(Exception):
            broker.delete(ATRIUM_QUEUE, PLAIN_QUEUE)

    log(f"Timing the tenant task's guard steps in-process ({args.guard_iterations} each)…")
    costs = guard_costs(tenant, args.guard_iterations, workdir)

    def median_of(kind: str, field: str) -> float:
        return round(statistics.median(r[kind][field] for r in rounds), 3)

    summary = {
        kind: {
            "label": KIND_LABELS[kind],
            "tasks_per_second_median": median_of(kind, "tasks_per_second"),
            "tasks_per_second_rounds": [r[kind]["tasks_per_second"] for r in rounds],
            "worker_cpu_ms_per_task_median": median_of(kind, "worker_cpu_ms_per_task"),
            "sender_cpu_ms_per_task_median": median_of(kind, "sender_cpu_ms_per_task"),
            "redis_cpu_ms_per_task_median": median_of(kind, "redis_cpu_ms_per_task"),
            "send_seconds_median": median_of(kind, "send_seconds"),
            "postgres_sessions_per_task_median": round(
                statistics.median(r[kind]["postgres_sessions_opened"] for r in rounds) / args.tasks,
                3,
            ),
            "wall_seconds_median": median_of(kind, "wall_seconds"),
        }
        for kind in KINDS
    }
    tenant_rate = summary["tenant"]["tasks_per_second_median"]
    return {
        "worker_command_atrium": shlex.join(["celery", *workers["atrium"].command[3:]]),
        "worker_command_plain": shlex.join(["celery", *workers["plain"].command[3:]]),
        "celery_conf_both_workers": conf,
        "plain_worker_probe": probe,
        "queues": {"atrium": ATRIUM_QUEUE, "plain": PLAIN_QUEUE},
        "summary": summary,
        "ratio_tenant_to_plain": round(
            tenant_rate / summary["plain"]["tasks_per_second_median"], 3
        ),
        "ratio_tenant_to_atrium_plain": round(
            tenant_rate / summary["atrium_plain"]["tasks_per_second_median"], 3
        ),
        "rounds": rounds,
        "guard_costs_in_process": costs,
        "profiles_py_spy": profiles,
    }


# ----------------------------------------------------------------------------- machine


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(redis_client: redis.Redis) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
    packages = (
        "django",
        "django-tenants",
        "channels",
        "channels-redis",
        "uvicorn",
        "websockets",
        "uvloop",
        "celery",
        "kombu",
        "redis",
        "hiredis",
        "psycopg",
    )
    return {
        **machine_basics(),
        "packages": {name: package_version(name) for name in packages},
        "postgresql": pg_version.split(" on ")[0],
        "redis_server": redis_client.info("server").get("redis_version"),
        "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
    }


# ----------------------------------------------------------------------------- results


def evaluate_targets(results: dict) -> list[dict]:
    targets = []

    def target(name: str, value: float, limit: float, op: str) -> None:
        met = {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]
        targets.append({"name": name, "value": value, "target": f"{op} {limit:g}", "met": met})

    fanout = results.get("fanout")
    if fanout:
        d = fanout["deliveries"]
        target(
            "fan-out p99 delivery (ms)",
            fanout["latency"].get("p99_ms", math.inf),
            TARGET_P99_MS,
            "<=",
        )
        target(
            "tenant B sockets that got tenant A events (deliveries)",
            d["tenant_b_received_tenant_a_events"],
            TARGET_FOREIGN,
            "==",
        )
        target(
            "tenant A sockets that got tenant B's event (deliveries)",
            d["tenant_a_received_tenant_b_event"],
            TARGET_FOREIGN,
            "==",
        )
        target("tenant A deliveries missing (of expected)", d["tenant_a_missing"], 0, "==")
        target(
            "sockets closed by the server during the run",
            sum(d["sockets_closed_by_the_server_during_the_run"].values()),
            0,
            "==",
        )
        target(
            "tenant B control deliveries missing",
            d["tenant_b_control_expected"] - d["tenant_b_control_received"],
            0,
            "==",
        )
    celery_part = results.get("celery")
    if celery_part:
        target(
            "tenant-aware / plain Celery app (throughput)",
            celery_part["ratio_tenant_to_plain"],
            TARGET_RATIO,
            ">=",
        )
        target(
            "tenant-aware / `celery.Task` on Atrium's app (throughput)",
            celery_part["ratio_tenant_to_atrium_plain"],
            TARGET_RATIO,
            ">=",
        )
    return targets


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_fanout(f: dict, p: dict) -> list[str]:
    lat, d, c = f["latency"], f["deliveries"], f["connect"]
    pub, cl = f["publisher"], f["channel_layer"]
    a = c["groups"]["A"]
    spreads = [e["spread_ms"] for e in f["per_event"] if e["spread_ms"] is not None]
    firsts = [e["first_ms"] for e in f["per_event"] if e["first_ms"] is not None]
    return [
        "## Fan-out",
        "",
        f"{p['clients']} sockets of tenant A and {p['foreign_clients']} of tenant B on one "
        f"uvicorn process; {p['events']} events to A, one every {p['interval']} s, then one to B. "
        f"Clients in one separate process ({f['clients_process']['event_loop']}), "
        f"permessage-deflate offered: {p['compression']}.",
        "",
        "| Delivery latency, tenant A (send → client reads it) | n | p50 ms | p95 ms | p99 ms | "
        "max ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| all deliveries | {lat['count']} | {fmt(lat.get('p50_ms'))} | {fmt(lat.get('p95_ms'))} "
        f"| {fmt(lat.get('p99_ms'))} | {fmt(lat.get('max_ms'))} | {fmt(lat.get('mean_ms'))} |",
        "",
        "| Deliveries | count |",
        "|---|---:|",
        f"| tenant A: expected / received / duplicates | {d['tenant_a_expected']} / "
        f"{d['tenant_a_received']} / {d['tenant_a_duplicates']} |",
        f"| tenant B sockets that got an A event | {d['tenant_b_received_tenant_a_events']} |",
        f"| tenant B's own event: expected / received | {d['tenant_b_control_expected']} / "
        f"{d['tenant_b_control_received']} |",
        f"| tenant A sockets that got B's event | {d['tenant_a_received_tenant_b_event']} |",
        f"| sockets closed by the server during the run | "
        f"{sum(d['sockets_closed_by_the_server_during_the_run'].values())} "
        f"{d['sockets_closed_by_the_server_during_the_run'] or ''} |",
        f"| other frames | {d['other_frames']} |",
        "",
        "Where the time goes, per event (medians over the events): publish call "
        f"{fmt(pub['publish_ms'].get('p50_ms'), 2)} ms, of which channels-redis `group_send` "
        f"{fmt(pub['group_send_ms'].get('p50_ms'), 2)} ms; first socket served after "
        f"{fmt(statistics.median(firsts) if firsts else None)} ms, last one "
        f"{fmt(statistics.median(spreads) if spreads else None)} ms after the first. "
        f"Server CPU {f['server']['cpu_seconds_event_phase']:.2f} s, client process CPU "
        f"{f['clients_process']['cpu_seconds_event_phase']:.2f} s for the {p['events']} events "
        f"(client loop lag p99 {fmt(f['clients_process']['loop_lag_ms_event_phase']['p99'])} ms, "
        f"max {fmt(f['clients_process']['loop_lag_ms_event_phase']['max'])} ms).",
        "",
        (
            f"Channel layer `{cl['backend']}`: {cl['group_members_before']} members in the "
            f"tenant group, {cl['server_channel_keys']} Redis key for the server process "
            f"(capacity {cl['capacity']} counts messages per process key, not per socket), at "
            f"most {cl['max_pending_after_publish']} pending right after a publish, "
            f"{len(cl['over_capacity_log_records'])} over-capacity records."
            if cl["group_members_before"] is not None
            else f"Channel layer `{cl['backend']}`: group membership is kept in the server "
            "process, one PUBLISH per event."
        ),
        "",
        f"Connect: {c['wall_seconds']} s for {a['requested'] + c['groups']['B']['requested']} "
        f"sockets ({c['sockets_per_second']}/s, {p['connect_concurrency']} handshakes at a "
        f"time); tenant A handshake p50 {fmt(a['connect_ms_p50'])} ms, p99 "
        f"{fmt(a['connect_ms_p99'])} ms. Server RSS {fmt(f['server']['rss_mib_idle'])} MiB idle, "
        f"{fmt(f['server']['rss_mib_connected'])} MiB with the sockets open.",
        "",
        "Server log, problems per phase: "
        + "; ".join(
            f"{phase.replace('_', ' ')}: "
            + (", ".join(f"{n} x {name}" for name, n in counts.items()) or "none")
            for phase, counts in f["server_log"].items()
            if phase != "log_file"
        )
        + ".",
        "",
        *render_server_profile(f.get("server_profile_py_spy")),
    ]


BORING_FRAMES = (
    "<frozen runpy>",
    "click/",
    "uvicorn/main.py",
    "uvicorn/__main__.py",
    "uvicorn/server.py",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "threading.py",
)


def render_server_profile(sp: dict | None) -> list[str]:
    if not sp:
        return []
    rows = [r for r in sp["inclusive"] if not any(b in r["function"] for b in BORING_FRAMES)]
    return [
        f"py-spy on the server over {sp['events']} more events (not in the figures above; "
        f"{sp['samples']} CPU samples at {sp['rate_hz']} Hz, all threads, server CPU "
        f"{sp['server_cpu_seconds']:.2f} s): share of samples with the function on the stack.",
        "",
        "| Function (server) | share |",
        "|---|---:|",
        *(f"| `{r['function']}` | {r['share'] * 100:.0f}% |" for r in rows[:14]),
        "",
    ]


def render_celery(c: dict, p: dict) -> list[str]:
    s, g = c["summary"], c["guard_costs_in_process"]
    lines: list[str]
    rows = [
        f"| {KIND_LABELS[kind]} | {s[kind]['tasks_per_second_median']:.0f} | "
        f"{', '.join(f'{v:.0f}' for v in s[kind]['tasks_per_second_rounds'])} | "
        f"{s[kind]['worker_cpu_ms_per_task_median']:.2f} | "
        f"{s[kind]['sender_cpu_ms_per_task_median']:.2f} | {s[kind]['send_seconds_median']:.2f} | "
        f"{s[kind]['postgres_sessions_per_task_median']:.2f} |"
        for kind in KINDS
    ]
    lines = [
        "## Celery overhead",
        "",
        f"{p['tasks']} no-op tasks (one Redis INCR) per kind and round, {p['rounds']} rounds in "
        f"rotating order after {p['warmup_tasks']} warm-up tasks per kind; prefork, concurrency "
        f"{p['concurrency']}, prefetch multiplier "
        f"{c['celery_conf_both_workers'].get('worker_prefetch_multiplier')}, one broker. "
        "Wall time from the first send to the last completion.",
        "",
        "| Task | tasks/s (median) | rounds | worker CPU ms/task | sender CPU ms/task | "
        "send s | new PostgreSQL sessions per task |",
        "|---|---:|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Tenant-aware / plain Celery app: **{c['ratio_tenant_to_plain']:.2f}**; tenant-aware / "
        f"`celery.Task` on Atrium's app: **{c['ratio_tenant_to_atrium_plain']:.2f}**.",
        "",
        "The tenant task's own steps, timed in-process (µs per call): tenant lookup query "
        f"{g['tenant_lookup_query_us']}, tenant scope enter+leave "
        f"{g['tenant_scope_enter_leave_us']}, idempotency claim + done "
        f"{g['idempotency_claim_and_done_us']}, INFO log line {g['log_line_us']}: "
        f"{g['sum_of_tenant_steps_us']} µs in all.",
        "",
    ]
    profiles = c.get("profiles_py_spy") or {}
    if profiles:
        names = sorted(
            {name for prof in profiles.values() for name in prof["categories"]},
            key=lambda name: -max(
                prof["categories"].get(name, {}).get("ms_per_task", 0) for prof in profiles.values()
            ),
        )
        lines += [
            "py-spy on the pool processes during one more measurement of each kind (wall "
            "time, idle included; ms of pool-process time per task, summed over the "
            f"{p['concurrency']} processes; tasks/s of that profiled measurement in the header):",
            "",
            "| Where a pool process spends its time | "
            + " | ".join(
                f"{kind} ({profiles[kind]['measurement']['tasks_per_second']:.0f}/s)"
                for kind in KINDS
                if kind in profiles
            )
            + " |",
            "|---|" + "---:|" * len(profiles),
            *(
                f"| {name} | "
                + " | ".join(
                    fmt(profiles[kind]["categories"].get(name, {}).get("ms_per_task", 0.0), 2)
                    for kind in KINDS
                    if kind in profiles
                )
                + " |"
                for name in names
            ),
            "| **busy (all but waiting for work)** | "
            + " | ".join(
                fmt(profiles[kind]["busy_ms_per_task"], 2) for kind in KINDS if kind in profiles
            )
            + " |",
            "",
        ]
    return lines


def render_markdown(results: dict) -> str:
    m, p = results["machine"], results["parameters"]
    uncommitted = results["git"]["uncommitted"]
    changes = (
        f", uncommitted: {', '.join(f'`{c.strip()}`' for c in uncommitted[:5])}"
        f"{' …' if len(uncommitted) > 5 else ''}"
        if uncommitted
        else ""
    )
    lines = [
        "# Realtime benchmark",
        "",
        f"Run {results['started_at']} ({results['duration_seconds']:.0f} s) with "
        f"`{results['command']}`.",
        "",
    ]
    if "fanout" in results:
        lines += render_fanout(results["fanout"], p)
    if "celery" in results:
        lines += render_celery(results["celery"], p)
    lines += [
        "| Target | value | target | met |",
        "|---|---:|---:|:---:|",
        *(
            f"| {t['name']} | {fmt(t['value'], 2)} | {t['target']} | {'yes' if t['met'] else 'NO'} |"
            for t in results["targets"]
        ),
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"{m['postgresql']}, Redis {m['redis_server']}, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
        + f". Load average at start {m['load_average_1_5_15_at_start']}, at end "
        f"{m['load_average_1_5_15_at_end']}. Git {(results['git']['commit'] or 'unknown')[:12]}"
        f"{changes}.",
        "",
    ]
    return "\n".join(lines)


def print_summary(results: dict) -> None:
    print()
    fanout = results.get("fanout")
    if fanout:
        lat, d = fanout["latency"], fanout["deliveries"]
        print(
            f"fan-out   {d['tenant_a_received']}/{d['tenant_a_expected']} deliveries: p50 "
            f"{fmt(lat.get('p50_ms'))} ms  p95 {fmt(lat.get('p95_ms'))} ms  p99 "
            f"{fmt(lat.get('p99_ms'))} ms  max {fmt(lat.get('max_ms'))} ms; to tenant B: "
            f"{d['tenant_b_received_tenant_a_events']}"
        )
    celery_part = results.get("celery")
    if celery_part:
        for kind in KINDS:
            s = celery_part["summary"][kind]
            print(
                f"celery    {kind:<13} {s['tasks_per_second_median']:>8.1f} tasks/s "
                f"(rounds {s['tasks_per_second_rounds']})"
            )
        print(
            f"celery    tenant/plain {celery_part['ratio_tenant_to_plain']:.3f}, "
            f"tenant/atrium_plain {celery_part['ratio_tenant_to_atrium_plain']:.3f}"
        )
    print()
    for t in results["targets"]:
        print(
            f"{'met ' if t['met'] else 'MISS'}  {t['name']}: {fmt(t['value'], 2)} ({t['target']})"
        )
    print()


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if "bench" not in database_name(args.database_url):
        raise SystemExit(
            f"Refusing to use {database_name(args.database_url)!r}: the bench database is "
            "dropped and re-created, so its name must contain 'bench'."
        )
    configure_environment(args)
    command = shlex.join([".venv/bin/python", "benchmarks/realtime.py", *sys.argv[1:]])
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    rlimit = raise_open_files(2 * (args.clients + args.foreign_clients) + 512)

    redis_clients: list[redis.Redis] = []
    try:
        for url in (args.redis_url, args.channel_redis_url, args.broker_url):
            redis_clients.append(claim_redis_db(url))
    except BenchmarkError:
        for client in redis_clients:  # only the benchmark's own marker is in them
            client.flushdb()
        raise
    log(f"Creating database {database_name(args.database_url)!r}…")
    drop_database(args.database_url, create_again=True)
    workdir = Path(tempfile.mkdtemp(prefix="atrium-bench-rt-"))
    measured: dict[str, Any] = {}
    django_ready = False
    try:
        import django

        django.setup()
        django_ready = True
        tenants = prepare_tenants()
        if args.only in (None, "fanout"):
            measured["fanout"] = run_fanout(args, tenants, workdir)
        if args.only in (None, "celery"):
            measured["celery"] = run_celery(args, tenants, workdir)
        measured["machine"] = machine_info(redis_clients[0])
    finally:
        if _stats_conn is not None:
            _stats_conn.close()
        if django_ready:
            from django.db import connections

            connections.close_all()
        if args.keep:
            log(
                f"Kept database {database_name(args.database_url)!r}, the Redis DBs and the "
                f"logs in {workdir}."
            )
        else:
            drop_database(args.database_url)
            for client in redis_clients:
                client.flushdb()
            log(
                f"Dropped database {database_name(args.database_url)!r}, flushed "
                f"{', '.join((args.redis_url, args.channel_redis_url, args.broker_url))}; "
                f"logs in {workdir}."
            )

    results = {
        "benchmark": "realtime",
        "command": command,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(time.perf_counter() - started, 1),
        "parameters": {
            "only": args.only,
            "clients": args.clients,
            "foreign_clients": args.foreign_clients,
            "events": args.events,
            "interval": args.interval,
            "connect_concurrency": args.connect_concurrency,
            "compression": args.compression,
            "tasks": args.tasks,
            "rounds": args.rounds,
            "warmup_tasks": args.warmup_tasks,
            "concurrency": args.concurrency,
            "guard_iterations": args.guard_iterations,
            "worker_settings": args.worker_settings or os.environ["DJANGO_SETTINGS_MODULE"],
            "users_per_tenant": USERS_PER_TENANT,
            "database": database_name(args.database_url),
            "redis_url": args.redis_url,
            "channel_redis_url": args.channel_redis_url,
            "broker_url": args.broker_url,
            "rlimit_nofile_before": rlimit,
        },
        "git": git_state(),
        **measured,
    }
    results["machine"]["load_average_1_5_15_at_start"] = load_at_start
    results["targets"] = evaluate_targets(results)
    stem = "realtime"
    write_atomically(args.results_dir / f"{stem}.json", json.dumps(results, indent=2) + "\n")
    write_atomically(args.results_dir / f"{stem}.md", render_markdown(results))
    print_summary(results)
    log(f"Results in {args.results_dir}/{stem}.json and {stem}.md")
    if args.check and not all(t["met"] for t in results["targets"]):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        print(f"realtime benchmark: {exc}", file=sys.stderr)
        sys.exit(2)
