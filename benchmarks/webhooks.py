"""Webhooks: commit-to-receipt latency and delivery throughput with the default worker.

1,000 product creations in one tenant with 3 endpoints subscribed to ``product.created`` on a
local receiver (3,000 deliveries), each verified by the receiver with the ``standardwebhooks``
package. Runs:

* ``steady``: the products are created one after another by this process (each its own
  commit); p50/p99 from each commit to its receipt, time from the first commit to the last
  receipt, verification failures.
* ``steady, another tenant timing out``: the same while another tenant's endpoint never
  answers (every attempt waits the 10 s timeout) and keeps receiving events.
* ``burst``: the 1,000 products are committed in one transaction, so 3,000 deliveries are
  due at once: time from the commit to the last receipt, deliveries per second, against
  a plain ``httpx`` POST loop from one process to the same receiver (the same signed body).

The worker is the default one (``make run``: ``celery worker --concurrency=2``, consuming
the default and the ``webhooks`` queues). The receiver runs in a process of its own.

    .venv/bin/python benchmarks/webhooks.py [--products 1000] [--check]
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness
from benchmarks.harness import log, summary_ms, table, target

SLOW_TIMEOUT_PATH = "/timeout"


def receive(port: int, secrets: dict, conn, hang_paths: list[str]) -> None:
    """The receiver process: serve until told, then send back what arrived."""
    from atrium.platform.webhooks.tests.receiver import Behaviour, Receiver

    with Receiver(port=port) as receiver:
        receiver.secrets.update(secrets)
        for path in hang_paths:
            receiver.behave(path, Behaviour(hang=60))
        conn.send("ready")
        while True:
            message = conn.recv()
            if message == "stop":
                break
            if message == "count":
                conn.send(len(receiver.received))
            elif message == "reset":
                with receiver.lock:
                    receiver.received.clear()
                conn.send("ok")
            elif message == "dump":
                with receiver.lock:
                    items = [
                        (r.path, r.at, r.verified, (r.payload or {}).get("data", {}).get("id"))
                        for r in receiver.received
                    ]
                conn.send(items)


class ReceiverProcess:
    def __init__(self, port: int, secrets: dict, hang_paths=()) -> None:
        self.parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(
            target=receive, args=(port, secrets, child, list(hang_paths)), daemon=True
        )

    def __enter__(self):
        self.process.start()
        assert self.parent.recv() == "ready"
        return self

    def ask(self, message):
        self.parent.send(message)
        return self.parent.recv()

    def wait_for(self, count: int, timeout: float, paths=None) -> list:
        deadline = time.monotonic() + timeout
        while True:
            items = self.ask("dump")
            if paths is not None:
                items = [i for i in items if i[0] in paths]
            if len(items) >= count or time.monotonic() > deadline:
                return items
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.parent.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


def httpx_loop(url: str, count: int, secret: str) -> float:
    """Deliveries per second of a plain httpx POST loop (keep-alive) to the receiver."""
    import httpx

    from atrium.platform.webhooks import signing

    body = b'{"type":"product.created","timestamp":"2026-12-07T10:00:00+00:00","data":{"id":"x"}}'
    with httpx.Client() as client:
        started = time.perf_counter()
        for n in range(count):
            msg_id, now = f"msg_loop{n}", int(time.time())
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(now),
                "webhook-signature": signing.sign(secret, msg_id=msg_id, timestamp=now, body=body),
                "Content-Type": "application/json",
            }
            assert client.post(url, content=body, headers=headers).status_code == 200
        return count / (time.perf_counter() - started)


def main() -> int:
    parser = harness.options(__doc__, database="atrium_bench_webhooks", redis_db=10)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args, run = harness.start(
        parser,
        "webhooks",
        "Webhooks: commit to receipt, and delivery throughput",
        ATRIUM_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        ATRIUM_EVENTS_VALIDATE="0",
    )
    from decimal import Decimal

    from django.db import connections, transaction

    from atrium.apps.catalog import services as catalog
    from atrium.platform.accounts.models import User
    from atrium.platform.webhooks import services as webhooks
    from atrium.tenants.context import tenant_scope
    from atrium.tenants.models import Tenant
    from tests.driver import free_port

    bench = harness.bench_tenant("bench")
    harness.bench_tenant("slow")
    tenant = Tenant.objects.get(slug="bench")
    slow = Tenant.objects.get(slug="slow")
    port = free_port()
    paths = ["/one", "/two", "/three"]
    secrets = {}
    with tenant_scope(tenant):
        owner = User.objects.get(pk=bench["user_id"])
        category = catalog.category_create(name="Bench")
        for path in paths:
            hook = webhooks.webhook_create(
                url=f"http://127.0.0.1:{port}{path}", events=["product.created"]
            )
            secrets[path] = [hook.secret]
    with tenant_scope(slow):
        webhooks.webhook_create(
            url=f"http://127.0.0.1:{port}{SLOW_TIMEOUT_PATH}", events=["product.created"]
        )
        slow_owner = User.objects.get(email="owner@slow.test")
        slow_category = catalog.category_create(name="Slow")
    connections.close_all()

    counter = {"n": 0}

    def create(owner, category, count: int, prefix: str) -> dict[str, float]:
        """Products created one by one; their commit times by id."""
        commits = {}
        for _ in range(count):
            counter["n"] += 1
            holder = {}
            with transaction.atomic():
                transaction.on_commit(lambda h=holder: h.setdefault("at", time.time()))
                product = catalog.product_create(
                    owner=owner,
                    name=f"{prefix} {counter['n']}",
                    sku=f"{prefix}-{counter['n']}",
                    price=Decimal("1.00"),
                    category=category,
                )
                holder["id"] = str(product.pk)
            commits[holder["id"]] = holder["at"]
        return commits

    def latency(commits: dict, received: list) -> tuple[dict, float, int, int]:
        got = [r for r in received if r[0] in paths]
        delays = [r[1] - commits[r[3]] for r in got if r[3] in commits]
        failures = sum(1 for r in got if r[2] is not True)
        span = max(r[1] for r in got) - min(commits.values()) if got else float("nan")
        return summary_ms(delays), span, failures, len(got)

    results, rows, targets, notes = {}, [], [], []
    worker = harness.worker(queue="celery,webhooks", concurrency=args.concurrency)
    with ReceiverProcess(port, secrets, hang_paths=[SLOW_TIMEOUT_PATH]) as receiver, worker:
        expected = 3 * args.products
        # -- steady
        log(f"steady: {args.products} products, one commit each")
        with tenant_scope(tenant):
            commits = create(owner, category, args.products, "S")
        received = receiver.wait_for(expected, 120, paths)
        results["steady"] = latency(commits, received)
        receiver.ask("reset")
        # -- steady, with another tenant timing out
        log("steady with another tenant's endpoint timing out")
        with tenant_scope(slow):
            create(slow_owner, slow_category, 30, "SLOW")
        time.sleep(1)  # its drain is in its hanging requests now
        with tenant_scope(tenant):
            commits = create(owner, category, args.products, "T")
        with tenant_scope(slow):
            create(slow_owner, slow_category, 30, "SLOW")
        received = receiver.wait_for(expected, 120, paths)
        results["noisy"] = latency(commits, received)
        slow_hits = len([r for r in receiver.ask("dump") if r[0] == SLOW_TIMEOUT_PATH])
        receiver.ask("reset")
        # -- burst
        log(f"burst: {args.products} products in one transaction")
        with tenant_scope(tenant):
            with transaction.atomic():
                holder = {}
                transaction.on_commit(lambda: holder.setdefault("at", time.time()))
                for n in range(args.products):
                    catalog.product_create(
                        owner=owner,
                        name=f"B {n}",
                        sku=f"B-{n}",
                        price=Decimal("1.00"),
                        category=category,
                    )
            committed = holder["at"]
        recorded = time.time()  # every sink has run: the commit's callbacks are done
        received = receiver.wait_for(expected, 300, paths)
        burst_span = max(r[1] for r in received) - committed
        first_receipt = min(r[1] for r in received)
        burst_failures = sum(1 for r in received if r[2] is not True)
        burst_rate = len(received) / burst_span
        log("httpx loop")
        loop_rate = httpx_loop(f"http://127.0.0.1:{port}/one", expected, secrets["/one"][0])
        worker_cpu = worker.cpu()

    for name, label in (("steady", "steady"), ("noisy", "steady, another tenant timing out")):
        lat, span, failures, count = results[name]
        rows.append([label, count, round(span, 2), lat.get("p50_ms"), lat.get("p99_ms"), failures])
        targets.append(target(f"{label}: p99 commit to receipt (ms)", lat["p99_ms"], "<=", 2000))
        targets.append(target(f"{label}: verification failures", failures, "==", 0))
        targets.append(target(f"{label}: deliveries missing", expected - count, "==", 0))
    rows.append(
        ["burst (one commit)", len(received), round(burst_span, 2), None, None, burst_failures]
    )
    targets.append(target("burst: verification failures", burst_failures, "==", 0))
    targets.append(target("burst: deliveries missing", expected - len(received), "==", 0))
    ratio = burst_rate / loop_rate
    notes.append(
        f"Burst: the {args.products:,} events' sinks (called once for the commit with all "
        "its events, in the committing process: webhooks, then WebSocket) took "
        f"{recorded - committed:.1f} s after the commit; the "
        f"first delivery arrived {first_receipt - committed:.2f} s after it. Deliveries/s "
        "counts from the commit to the last receipt, so the recording is part of it."
    )
    targets.append(target("burst deliveries/s / httpx loop", ratio, ">=", 0.5))
    notes.append(
        f"The timing-out tenant's endpoint was called {slow_hits} times during the second run "
        "(each attempt waits the 10 s timeout; the endpoint is disabled after 20 failures)."
    )
    notes.append(f"Worker CPU over all runs: {worker_cpu:.1f} s ({args.concurrency} processes).")
    run.close()
    return run.finish(
        tables=[
            table(
                "Deliveries (3 endpoints per product)",
                "run | delivered | first commit to last receipt s | p50 ms | p99 ms | "
                "verification failures",
                rows,
            ),
            table(
                "Throughput",
                "what | deliveries/s",
                [
                    ["burst through the worker", round(burst_rate, 1)],
                    ["plain httpx POST loop, one process", round(loop_rate, 1)],
                    ["ratio", round(ratio, 3)],
                ],
            ),
        ],
        targets=targets,
        notes=notes,
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    sys.exit(main())
