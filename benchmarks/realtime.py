#!/usr/bin/env python
"""Realtime: WebSocket fan-out to one tenant's sockets, and the tenant-aware Celery task's
overhead, on a database and Redis DBs of the benchmark's own.

* **Fan-out.** One uvicorn (``tests/driver.py``'s ``Server``) serves ``config.asgi``: origin
  check, tenant from ``Host``, JWT on connect, ``EventsConsumer``, the channel layer.
  ``--clients`` sockets of tenant A and ``--foreign-clients`` of tenant B connect from one
  client process (``benchmarks/rt_clients.py``); this process then calls
  ``publish_to_tenant`` for A ``--events`` times, ``--interval`` apart, each event carrying
  its send time; latency is the client's receive time minus that. Then one event to B: every
  B socket must get it, no A socket may, and no A event may reach a B socket.
* **Celery.** ``--tasks`` no-op tasks (one Redis ``INCR``, which this process polls) per kind
  and round, rounds in rotating order after a warm-up; wall time from the first send to the
  last completion. Kinds: ``@tenant_task`` sent in ``tenant_scope`` and ``celery.Task`` on
  Atrium's app (``benchmarks/rt_tasks.py``, one worker), and a plain ``celery.Celery`` app
  with the same settings in a worker without Django (``benchmarks/rt_plain.py``). Prefork,
  ``--concurrency`` processes each.

    .venv/bin/python benchmarks/realtime.py --rounds 5                # full run, ~2 min
    .venv/bin/python benchmarks/realtime.py --clients 100 --foreign-clients 10 --events 5 \\
        --tasks 200 --rounds 1 --results-dir /tmp/bench                 # smoke run
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import REPO_ROOT, BenchmarkError, log, table, target

KINDS = {
    "plain": "plain Celery app, no Django/Atrium in the worker (`rt_plain.plain_noop`)",
    "atrium_plain": "`celery.Task` base on Atrium's app and worker (`rt_tasks.atrium_plain_noop`)",
    "tenant": "`@tenant_task`, sent in `tenant_scope` (`rt_tasks.tenant_noop`)",
}


parser = harness.options(__doc__, database="atrium_bench_rt", redis_db=3)
parser.add_argument("--channel-redis-url", default="redis://127.0.0.1:6379/4")
parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/1")
parser.add_argument("--clients", type=int, default=1000, help="sockets of tenant A")
parser.add_argument("--foreign-clients", type=int, default=100, help="sockets of tenant B")
parser.add_argument("--events", type=int, default=20)
parser.add_argument("--interval", type=float, default=0.2, help="seconds between events")
parser.add_argument("--connect-concurrency", type=int, default=50)
parser.add_argument("--tasks", type=int, default=2000, help="tasks per kind and round")
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--warmup-tasks", type=int, default=200)
parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
parser.add_argument("--only", choices=("fanout", "celery"))
args, run = harness.start(
    parser,
    "realtime",
    "Realtime: WebSocket fan-out and Celery overhead",
    redis_urls=("channel_redis_url", "broker_url"),
    CHANNEL_REDIS_URL=lambda args: args.channel_redis_url,
    CELERY_BROKER_URL=lambda args: args.broker_url,
)  # sets Django up
args.workdir = str(run.workdir)

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from atrium.platform.accounts.models import User  # noqa: E402
from atrium.platform.accounts.tokens import token_pair_issue  # noqa: E402
from atrium.platform.realtime.events import publish_to_tenant  # noqa: E402
from atrium.tenants.context import tenant_scope  # noqa: E402
from atrium.tenants.provisioning import tenant_create  # noqa: E402
from benchmarks import rt_plain, rt_tasks  # noqa: E402, F401  (rt_tasks: Atrium's bench tasks)
from config.celery import app as celery_app  # noqa: E402


def prepare_tenants() -> dict:
    """Public schema, template, tenants A and B with 10 users each, an access token each."""
    call_command("tenants", "migrate", stdout=io.StringIO())
    tenants = {}
    for label in ("A", "B"):
        slug = f"fanout-{label.lower()}"
        tenant = tenant_create(slug=slug, name=slug, owner_email=f"owner@{slug}.test").tenant
        with tenant_scope(tenant):
            users = [User.objects.get(email=f"owner@{slug}.test")] + [
                User.objects.create_user(email=f"member{n}@{slug}.test") for n in range(1, 10)
            ]
            tokens = [token_pair_issue(user=user).access for user in users]
        tenants[label] = {"tenant": tenant, "host": f"{slug}.localhost", "tokens": tokens}
    return tenants


def publish(tenant, event_type: str, seq: int) -> None:
    with tenant_scope(tenant):
        publish_to_tenant(event_type, id=seq, data={"sent": time.time()})


def run_fanout(args, env: dict, tenants: dict) -> dict:
    workdir, sizes = Path(args.workdir), {"A": args.clients, "B": args.foreign_clients}
    groups = [
        {"label": label, "count": sizes[label], "host": t["host"], "tokens": t["tokens"]}
        for label, t in tenants.items()
    ]
    with harness.server(env) as server:
        config = {"port": server.port, "concurrency": args.connect_concurrency, "groups": groups}
        config["results"] = str(workdir / "frames.json")
        (workdir / "clients.json").write_text(json.dumps(config))
        command = [sys.executable, "-m", "benchmarks.rt_clients", str(workdir / "clients.json")]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        clients = subprocess.Popen(command, cwd=REPO_ROOT, text=True, **pipes)
        try:
            connected = json.loads(clients.stdout.readline())
            for label, group in connected["groups"].items():
                if group["connected"] != group["requested"]:
                    raise BenchmarkError(f"tenant {label}: {group}")
            log(f"{sum(sizes.values())} sockets in {connected['wall_seconds']:.1f} s")
            cpu, next_at = harness.cpu_seconds(server.pid), time.monotonic()
            for seq in range(args.events):
                time.sleep(max(0.0, next_at - time.monotonic()))
                publish(tenants["A"]["tenant"], "bench.tick", seq)
                next_at += args.interval
            time.sleep(max(args.interval, 0.2))
            publish(tenants["B"]["tenant"], "bench.control", 0)
            clients.stdin.write(
                json.dumps({"expect": {"A": args.events, "B": 1}, "timeout": 60}) + "\n"
            )
            clients.stdin.flush()
            if json.loads(clients.stdout.readline() or "{}").get("event") != "done":
                raise BenchmarkError("the client process ended early")
            cpu = harness.cpu_seconds(server.pid) - cpu
        finally:
            clients.kill()
            clients.wait()
    sockets = json.loads((workdir / "frames.json").read_text())
    latencies, counts = [], dict.fromkeys(("duplicates", "a_to_b", "b_to_a", "b_control"), 0)
    for label, _connected, _open, frames in sockets:
        seen = set()
        for received, kind, seq, sent in frames:
            if label == "A" and kind == "bench.tick":
                counts["duplicates"] += seq in seen
                if seq not in seen:
                    seen.add(seq)
                    latencies.append(received - sent)
            elif kind in ("bench.tick", "bench.control"):  # anything else is a socket event
                counts["b_control" if label == "B" else "b_to_a"] += kind == "bench.control"
                counts["a_to_b"] += kind == "bench.tick"
    return {
        "latency": harness.summary_ms(latencies),
        "expected": args.clients * args.events,
        "received": len(latencies),
        **counts,
        "dropped_sockets": sum(
            connected and not still_open for _, connected, still_open, _ in sockets
        ),
        "connect": connected,
        "server_cpu_seconds_events": round(cpu, 2),
    }


def run_celery(args, tenants: dict) -> dict:
    conf = {
        k.removeprefix("CELERY_").lower(): getattr(settings, k)
        for k in dir(settings)
        if k.startswith("CELERY_") and "BEAT" not in k
    }
    plain_env = {
        "DJANGO_SETTINGS_MODULE": None,
        "ATRIUM_BENCH_RT_PLAIN_CONF": json.dumps(conf),
        "ATRIUM_BENCH_RT_COUNTER_URL": args.redis_url,
    }

    rt_plain.app.conf.update(conf)
    counter = redis.Redis.from_url(args.redis_url)
    queues = {
        "atrium": f"bench-rt-atrium-{uuid.uuid4().hex[:6]}",
        "plain": f"bench-rt-plain-{uuid.uuid4().hex[:6]}",
    }
    tasks = {
        "tenant": celery_app.tasks["bench.rt.tenant_noop"],
        "atrium_plain": celery_app.tasks["bench.rt.atrium_plain_noop"],
        "plain": rt_plain.app.tasks["bench.rt.plain_noop"],
    }
    with (
        harness.worker(
            "config.celery",
            queues["atrium"],
            args.concurrency,
            {"ATRIUM_BENCH_RT_COUNTER_URL": args.redis_url},
            ("--include", "benchmarks.rt_tasks"),
        ) as atrium_worker,
        harness.worker(
            "benchmarks.rt_plain", queues["plain"], args.concurrency, plain_env
        ) as plain_worker,
    ):
        probe = f"bench:rt:probe:{uuid.uuid4().hex[:6]}"
        rt_plain.app.tasks["bench.rt.plain_probe"].apply_async((probe,), queue=queues["plain"])
        deadline = time.monotonic() + 30
        while not counter.get(probe) and time.monotonic() < deadline:
            time.sleep(0.05)
        if json.loads(counter.get(probe) or '{"django_loaded": true}')["django_loaded"]:
            raise BenchmarkError("the plain worker has Django loaded (or did not answer)")

        def measure(kind: str, count: int, _round: int) -> dict:
            worker = plain_worker if kind == "plain" else atrium_worker
            queue = queues["plain" if kind == "plain" else "atrium"]
            key, cpu = f"bench:rt:done:{uuid.uuid4().hex}", worker.cpu()
            started = time.perf_counter()
            with tenant_scope(tenants["A"]["tenant"]) if kind == "tenant" else nullcontext():
                for _ in range(int(count)):
                    tasks[kind].apply_async((key,), queue=queue)
            while int(counter.get(key) or 0) < count:
                if time.perf_counter() - started > max(120, count / 10):
                    raise BenchmarkError(f"{kind}: {counter.get(key)} of {count} tasks done")
                time.sleep(0.002)
            per_second = count / (time.perf_counter() - started)
            return {
                "per_second": round(per_second, 1),
                "cpu_ms": (worker.cpu() - cpu) * 1e3 / count,
            }

        rounds = harness.rounds(measure, list(KINDS), args.rounds, args.warmup_tasks, args.tasks)
    return {
        kind: {
            "per_second": statistics.median(r["per_second"] for r in results),
            "rounds": [r["per_second"] for r in results],
            "worker_cpu_ms": round(statistics.median(r["cpu_ms"] for r in results), 3),
        }
        for kind, results in rounds.items()
    }


def main() -> int:
    fanout = celery = None
    try:
        tenants = prepare_tenants()
        if args.only != "celery":
            fanout = run_fanout(args, run.env, tenants)
        if args.only != "fanout":
            celery = run_celery(args, tenants)
    finally:
        run.close()

    tables, targets, notes = [], [], []
    if fanout:
        f, lat, a = fanout, fanout["latency"], fanout["connect"]["groups"]["A"]
        notes.append(
            f"{args.clients} sockets of tenant A and {args.foreign_clients} of tenant B on one "
            f"uvicorn process; {args.events} events to A, one every {args.interval:g} s, then "
            f"one to B. Connect: {f['connect']['wall_seconds']:.1f} s for all sockets, A "
            f"handshake p50 {a['connect_ms_p50']:.0f} ms, p99 {a['connect_ms_p99']:.0f} ms; "
            f"server CPU {f['server_cpu_seconds_events']} s for the events."
        )
        latency = ["all deliveries", *harness.latency_cells(lat)]
        tables.append(table("Fan-out", f"Delivery latency, A | {harness.LATENCY}", [latency]))
        deliveries = [
            [
                "tenant A: expected / received / duplicates",
                f"{f['expected']} / {f['received']} / {f['duplicates']}",
            ],
            ["tenant B sockets that got an A event", f["a_to_b"]],
            [
                "tenant B's own event: expected / received",
                f"{args.foreign_clients} / {f['b_control']}",
            ],
            ["tenant A sockets that got B's event", f["b_to_a"]],
            ["sockets closed by the server during the run", f["dropped_sockets"]],
        ]
        tables.append(table("Deliveries", " | count", deliveries))
        targets += [
            target("fan-out p99 delivery (ms)", lat.get("p99_ms", 1e9), "<=", 250),
            target("deliveries across tenants", f["a_to_b"] + f["b_to_a"], "==", 0),
            target("tenant A deliveries missing", f["expected"] - f["received"], "==", 0),
            target("tenant B deliveries missing", args.foreign_clients - f["b_control"], "==", 0),
        ]
    if celery:
        notes.append(
            f"Celery: {args.tasks} no-op tasks per kind and round, {args.rounds} rounds in "
            f"rotating order after {args.warmup_tasks} warm-up tasks per kind; prefork, "
            f"concurrency {args.concurrency}, one broker."
        )
        rows = [
            [
                KINDS[k],
                c["per_second"],
                ", ".join(f"{v:.0f}" for v in c["rounds"]),
                c["worker_cpu_ms"],
            ]
            for k, c in celery.items()
        ]
        columns = "Task | tasks/s (median) | rounds | worker CPU ms/task"
        tables.append(table("Celery overhead", columns, rows))
        rate = celery["tenant"]["per_second"]
        for kind, name in (
            ("plain", "plain Celery app"),
            ("atrium_plain", "`celery.Task` on Atrium's app"),
        ):
            ratio = rate / celery[kind]["per_second"]
            targets.append(target(f"tenant-aware / {name}", ratio, ">=", 0.8))
    return run.finish(
        summary={"fanout": fanout, "celery": celery},
        notes=notes,
        tables=tables,
        targets=targets,
    )


if __name__ == "__main__":
    sys.exit(main())
