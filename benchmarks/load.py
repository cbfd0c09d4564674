#!/usr/bin/env python
"""Load with isolation checks: many HTTP clients and WebSocket clients on several tenants.

``run_load()`` drives one server on this machine for ``duration`` seconds with ``clients``
keep-alive HTTP clients spread over the tenants (mixed reads and writes: product list and
detail, categories, create, change and delete products) and ``sockets`` WebSocket clients
per tenant on ``/ws/events/``. Every response must have the expected status, and every
response body and every socket event is checked against its tenant: it must name no other
tenant (their slugs are in every name, SKU and e-mail) and no id created on another tenant.
It returns the counts, errors, cross-tenant findings and latencies (p50/p99 per operation).

The server and the tenants come from ``tests/isolation/test_load_smoke.py`` (a live uvicorn
from ``tests/driver.py`` on the test run's database, tenants on a plan with high limits).
The full run is that test at full size; it writes ``benchmarks/results/load.{json,md}``:

    .venv/bin/python benchmarks/load.py                    # 50 clients, 60 s, 3 tenants
    .venv/bin/python benchmarks/load.py --clients 8 --duration 5 --results-dir /tmp/bench

Only loopback: the server listens on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import harness  # noqa: E402
from benchmarks.harness import table, target  # noqa: E402
from benchmarks.httpload import exchange  # noqa: E402

MIX = {"list": 40, "detail": 20, "categories": 10, "create": 15, "update": 10, "delete": 5}
EXPECTED = {"list": 200, "detail": 200, "categories": 200, "create": 201, "update": 200}
EXPECTED["delete"] = 204
TIMEOUT = 30.0
SETTLE = 10.0


@dataclass
class LoadTenant:
    """What a client needs of a tenant: host, token, a category, products to read."""

    slug: str
    host: str
    token: str
    category: str
    products: list[str]


@dataclass
class Findings:
    requests: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    cross_tenant: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    events: Counter = field(default_factory=Counter)
    created: dict[str, str] = field(default_factory=dict)  # product id -> tenant slug
    writes: Counter = field(default_factory=Counter)  # tenant slug -> writes that publish
    delivered: Counter = field(default_factory=Counter)  # tenant slug -> events received
    last_event: float = 0.0

    def error(self, text: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(text)
        self.requests["errors"] += 1


def foreign_markers(tenant: LoadTenant, tenants: list[LoadTenant]) -> list[str]:
    return [m for t in tenants if t.slug != tenant.slug for m in (t.slug, t.slug.upper())]


def check_isolation(
    text: str, tenant: LoadTenant, markers: list[str], findings: Findings, where: str
) -> None:
    """``text`` (a body or an event) must hold nothing of another tenant."""
    leaked = [m for m in markers if m in text]
    leaked += [
        pid for pid, owner in list(findings.created.items()) if owner != tenant.slug and pid in text
    ]
    if leaked:
        findings.cross_tenant.append(f"{where} on {tenant.slug}: {leaked[:3]} in {text[:200]!r}")


def request_bytes(method: str, tenant: LoadTenant, port: int, path: str, body=None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {tenant.host}:{port}\r\nAccept: application/json\r\n"
    head += f"Authorization: Bearer {tenant.token}\r\nContent-Length: {len(payload)}\r\n"
    head += "Content-Type: application/json\r\n" if body is not None else ""
    return f"{head}Connection: keep-alive\r\n\r\n".encode("latin-1") + payload


async def http_client(
    number: int,
    port: int,
    tenant: LoadTenant,
    tenants: list[LoadTenant],
    deadline: float,
    seed: int,
    findings: Findings,
) -> None:
    rng = random.Random(seed * 1000 + number)
    names, weights = list(MIX), list(MIX.values())
    markers = foreign_markers(tenant, tenants)
    own: list[str] = []  # products this client created and has not deleted
    serial = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            operation = rng.choices(names, weights)[0]
            if operation in ("update", "delete") and not own:
                operation = "create"
            body = None
            if operation == "list":
                method, path = "GET", f"/api/v1/catalog/products/?page_size={rng.choice([5, 20])}"
            elif operation == "detail":
                target = rng.choice(tenant.products + own)
                method, path = "GET", f"/api/v1/catalog/products/{target}/"
            elif operation == "categories":
                method, path = "GET", "/api/v1/catalog/categories/"
            elif operation == "create":
                serial += 1
                sku = f"{tenant.slug.upper()}-L{number}-{serial}"
                method, path = "POST", "/api/v1/catalog/products/"
                body = {
                    "name": f"Load {tenant.slug} {number}-{serial}",
                    "sku": sku,
                    "price": f"{rng.randint(1, 999)}.00",
                    "stock": rng.randint(0, 20),
                    "category": tenant.category,
                    "status": "active",
                }
            elif operation == "update":
                method, path = "PATCH", f"/api/v1/catalog/products/{rng.choice(own)}/"
                body = {"stock": rng.randint(0, 99)}
            else:
                target = own.pop(rng.randrange(len(own)))
                method, path = "DELETE", f"/api/v1/catalog/products/{target}/"
            started = time.perf_counter()
            try:
                answer = await exchange(
                    reader, writer, request_bytes(method, tenant, port, path, body), TIMEOUT
                )
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
                findings.error(f"{method} {path} on {tenant.slug}: {type(exc).__name__} {exc}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            elapsed = time.perf_counter() - started
            findings.latencies.setdefault(operation, []).append(elapsed)
            findings.requests[operation] += 1
            if answer["status"] != EXPECTED[operation]:
                findings.error(
                    f"{method} {path} on {tenant.slug}: {answer['status']} {answer['body'][:200]!r}"
                )
                continue
            text = answer["body"].decode("utf-8", "replace")
            check_isolation(text, tenant, markers, findings, f"{method} {path}")
            if operation in ("create", "update", "delete"):
                findings.writes[tenant.slug] += 1  # each publishes one event to the tenant
            if operation == "create":
                created = json.loads(text)["id"]
                findings.created[created] = tenant.slug
                own.append(created)
    finally:
        writer.close()


async def socket_client(
    port: int, tenant: LoadTenant, tenants: list[LoadTenant], stop: asyncio.Event, findings
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    markers = foreign_markers(tenant, tenants)
    try:
        url, protocols = f"ws://{tenant.host}:{port}/ws/events/", ["bearer", tenant.token]
        ws = await connect(
            url,
            host="127.0.0.1",
            port=port,
            subprotocols=protocols,
            open_timeout=TIMEOUT,
            ping_interval=None,
        )
    except (OSError, TimeoutError, ConnectionClosed) as exc:
        findings.error(f"socket on {tenant.slug}: {type(exc).__name__} {exc}")
        return
    findings.events["sockets_open"] += 1
    try:
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            text = message if isinstance(message, str) else message.decode()
            findings.events[json.loads(text).get("type", "?")] += 1
            findings.events["total"] += 1
            findings.delivered[tenant.slug] += 1
            findings.last_event = time.monotonic()
            check_isolation(text, tenant, markers, findings, "event")
    except ConnectionClosed as exc:
        findings.error(f"socket on {tenant.slug} closed: {exc}")
    finally:
        await ws.close()


async def run_async(port, tenants, clients, duration, sockets_per_tenant, seed) -> Findings:
    findings = Findings()
    stop = asyncio.Event()
    listeners = [
        asyncio.create_task(socket_client(port, tenant, tenants, stop, findings))
        for tenant in tenants
        for _ in range(sockets_per_tenant)
    ]
    await asyncio.sleep(1.0)  # sockets joined their groups before the first write
    deadline = time.monotonic() + duration
    await asyncio.gather(
        *(
            http_client(n, port, tenants[n % len(tenants)], tenants, deadline, seed, findings)
            for n in range(clients)
        )
    )
    # The last events arrive: until a second passes without one (at most SETTLE seconds).
    settle_until = time.monotonic() + SETTLE
    while time.monotonic() < settle_until and time.monotonic() - findings.last_event < 1.0:
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*listeners)
    return findings


def run_load(
    *,
    port: int,
    tenants: list[LoadTenant],
    clients: int,
    duration: float,
    sockets_per_tenant: int = 2,
    seed: int = 1,
) -> dict:
    """Run the load and return its summary (see the module docstring)."""
    started = time.monotonic()
    findings = asyncio.run(run_async(port, tenants, clients, duration, sockets_per_tenant, seed))
    every = [x for values in findings.latencies.values() for x in values]
    return {
        "clients": clients,
        "duration_s": duration,
        "elapsed_s": round(time.monotonic() - started, 1),
        "tenants": [t.slug for t in tenants],
        "sockets": sockets_per_tenant * len(tenants),
        "seed": seed,
        "responses": len(every),
        "requests_per_s": round(len(every) / duration, 1),
        "errors": findings.requests["errors"],
        "error_samples": findings.errors,
        "cross_tenant": findings.cross_tenant,
        "latency": harness.summary_ms(every),
        "latency_by_operation": {
            op: harness.summary_ms(v) for op, v in sorted(findings.latencies.items())
        },
        "products_created": len(findings.created),
        "events": dict(findings.events),
        # Every socket should get one event per write of its tenant (channels-redis drops
        # group messages beyond its capacity when the server cannot keep up).
        "deliveries_expected": sum(findings.writes[t.slug] * sockets_per_tenant for t in tenants),
        "deliveries_received": sum(findings.delivered.values()),
    }


def main() -> int:
    parser = harness.options(__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--sockets", type=int, default=2, help="WebSocket clients per tenant")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    run = harness.Run("load", "Load with isolation checks", args)
    sizes = {"CLIENTS": args.clients, "SECONDS": args.duration, "TENANTS": args.tenants}
    sizes.update(SOCKETS=args.sockets, SEED=args.seed)
    test = "tests/isolation/test_load_smoke.py"
    status, s = harness.run_pytest_report(test, "ATRIUM_LOAD", sizes, args.duration + 300)
    if s is None:
        return status or 1
    latencies = {**s["latency_by_operation"], "all": s["latency"]}
    rows = [[op, f["n"], f["p50_ms"], f["p99_ms"], f["max_ms"]] for op, f in latencies.items()]
    missing = s["deliveries_expected"] - s["deliveries_received"]
    del s["error_samples"][5:]
    written = run.finish(
        parameters=sizes,
        summary=s,
        notes=[
            f"{s['clients']} HTTP clients for {s['duration_s']:g} s across {len(s['tenants'])} "
            f"tenants, plus {s['sockets']} WebSocket clients; one uvicorn on 127.0.0.1.",
            f"Responses **{s['responses']}** ({s['requests_per_s']} req/s), products created "
            f"{s['products_created']}; socket events received {s['deliveries_received']} of "
            f"{s['deliveries_expected']} (one per write of the socket's tenant).",
        ],
        tables=[table("", "operation | requests | p50 ms | p99 ms | max ms", rows)],
        targets=[
            target("errors", s["errors"], "==", 0),
            target("cross-tenant responses or events", len(s["cross_tenant"]), "==", 0),
            target("socket deliveries missing", missing, "==", 0),
        ],
    )
    return status or written


if __name__ == "__main__":
    sys.exit(main())
