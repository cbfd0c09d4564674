"""Where the full path's extra time goes: both paths in-process, with timed components.

Part of ``benchmarks/api.py``, which calls ``run_breakdown()`` once the load rounds are over
and the server is stopped. Requests go straight to ``config.asgi.application`` (no socket,
no HTTP parsing), one at a time, so nothing else competes with them. A few functions of the
full path are wrapped, in this process only, with timers that add up wall time and the
thread's CPU time (``time.thread_time``) spent inside them:

* ``HostDirectory.lookup``: routing's host lookup (a Redis GET of the directory version);
* ``DatabaseWrapper.set_tenant``: entering and leaving ``tenant_scope`` (twice a request);
* ``DatabaseWrapper._handle_search_path``: the ``SET search_path`` django-tenants sends on
  the first query after a schema change or on a new connection (both paths);
* ``TenantJWTAuthentication.get_validated_token``: decoding and verifying the JWT;
* ``TenantJWTAuthentication.get_user``: the JWT's user, loaded with one query;
* ``QuerySet.get``: that query, in both paths (the bare view makes it itself);
* ``APIView.check_throttles``: the throttles (one GCRA script on Redis).

Throughput under load depends on CPU time (every request thread shares one GIL), latency on
wall time: both are reported, per request.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict

COMPONENTS = [
    # (label, module, attribute path)
    ("routing: host lookup", "atrium.tenants.directory", "HostDirectory.lookup"),
    (
        "tenant_scope: connection.set_tenant",
        "django_tenants.postgresql_backend.base",
        "DatabaseWrapper.set_tenant",
    ),
    (
        "django-tenants: search_path handling",
        "django_tenants.postgresql_backend.base",
        "DatabaseWrapper._handle_search_path",
    ),
    (
        "JWT: decode and verify",
        "atrium.platform.accounts.authentication",
        "TenantJWTAuthentication.get_validated_token",
    ),
    (
        "JWT: load the user (1 query)",
        "atrium.platform.accounts.authentication",
        "TenantJWTAuthentication.get_user",
    ),
    ("throttles: check_throttles", "rest_framework.views", "APIView.check_throttles"),
    ("user query: QuerySet.get", "django.db.models.query", "QuerySet.get"),
]


class Meter:
    """Adds up the wall and thread CPU time spent in wrapped functions, per label."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.search_path_sets = 0
        self._restore: list[tuple[object, str, object]] = []

    def wrap(self, label: str, module_name: str, attribute: str) -> None:
        import importlib

        owner_name, _, name = attribute.rpartition(".")
        owner = importlib.import_module(module_name)
        for part in owner_name.split("."):
            owner = getattr(owner, part)
        original = owner.__dict__[name]
        meter = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                meter.wall[label] += time.perf_counter() - wall
                meter.cpu[label] += time.thread_time() - cpu
                meter.calls[label] += 1

        setattr(owner, name, timed)
        self._restore.append((owner, name, original))

    def count_search_path_sets(self) -> None:
        """Count the ``SET search_path`` statements django-tenants actually sends."""
        from django_tenants.postgresql_backend.base import DatabaseWrapper

        original = DatabaseWrapper.__dict__["_handle_search_path"]
        meter = self

        @functools.wraps(original)
        def counted(wrapper, cursor=None):
            before = wrapper.search_path_set_schemas
            result = original(wrapper, cursor)
            if before is None and wrapper.search_path_set_schemas is not None:
                meter.search_path_sets += 1
            return result

        DatabaseWrapper._handle_search_path = counted
        self._restore.append((DatabaseWrapper, "_handle_search_path", original))

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()
        self.search_path_sets = 0

    def restore(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _request(application, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One request through the ASGI application; returns the status."""
    received = False
    messages: list[dict] = []

    async def receive() -> dict:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    await application(_scope(path, headers), receive, send)
    return messages[0]["status"]


async def _series(application, path, headers, count: int, meter: Meter) -> dict:
    meter.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        status = await _request(application, path, headers)
        if status != 200:
            raise RuntimeError(f"{path} answered {status} in the breakdown")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    us = 1e6 / count
    return {
        "requests": count,
        "wall_us_per_request": round(wall * us, 1),
        "process_cpu_us_per_request": round(cpu * us, 1),
        "components": {
            label: {
                "calls_per_request": round(meter.calls[label] / count, 2),
                "wall_us": round(meter.wall[label] * us, 1),
                "cpu_us": round(meter.cpu[label] * us, 1),
            }
            for label, _, _ in COMPONENTS
            if meter.calls[label]
        },
        "search_path_sets_per_request": round(meter.search_path_sets / count, 2),
    }


def run_breakdown(*, host: str, token: str, paths: dict[str, str], requests: int) -> dict:
    """Both paths, ``requests`` each after as many untimed ones, with component timers."""
    from config.asgi import application

    meter = Meter()
    for label, module_name, attribute in COMPONENTS:
        meter.wrap(label, module_name, attribute)
    meter.count_search_path_sets()
    headers = {
        "bare": [(b"host", host.encode())],
        "full": [(b"host", host.encode()), (b"authorization", f"Bearer {token}".encode())],
    }

    async def measure() -> dict:
        for label in ("bare", "full"):  # warm-up
            await _series(application, paths[label], headers[label], requests, meter)
        return {
            label: await _series(application, paths[label], headers[label], requests, meter)
            for label in ("bare", "full")
        }

    try:
        results = asyncio.run(measure())
    finally:
        meter.restore()
    bare, full = results["bare"], results["full"]
    extra_wall = full["wall_us_per_request"] - bare["wall_us_per_request"]
    extra_cpu = full["process_cpu_us_per_request"] - bare["process_cpu_us_per_request"]
    return {
        "method": "sequential in-process requests to config.asgi.application, timers around "
        "the components (see benchmarks/api_breakdown.py)",
        "bare": bare,
        "full": full,
        "full_minus_bare": {
            "wall_us_per_request": round(extra_wall, 1),
            "process_cpu_us_per_request": round(extra_cpu, 1),
        },
    }
