"""The WebSocket clients of the fan-out benchmark (``benchmarks/realtime.py``), one process.

Started by realtime.py as ``python benchmarks/rt_clients.py CONFIG.json``; no Django here,
only asyncio (uvloop when installed) and the ``websockets`` client. It talks to its parent
in JSON lines:

1. connects every socket of the config (bounded concurrency), waits ``settle_seconds`` and
   writes ``{"event": "connected", …}`` with the connect figures and how many sockets are
   still open (a refused socket is accepted, then closed with 4401/4403);
2. for each ``{"cmd": "wait", "expect": {"<label>": n, …}, "timeout": s}`` read from stdin
   (sent once the parent has published): waits until every socket of each label holds
   ``n`` frames (or the timeout), then ``grace_seconds`` more to catch strays, and writes
   ``{"event": "received", …}`` with this process's CPU time and loop lag meanwhile;
3. on ``{"cmd": "close"}`` (or end of input), closes every socket, writes what each one
   received to ``results_path`` and ``{"event": "done"}``.

A frame's receive time is ``time.time()`` taken when the client's reader task gets it,
so it includes this process's own scheduling delay; the event loop's lag is recorded for
that reason (``loop_lag_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

LAG_TICK_SECONDS = 0.005


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class Socket:
    label: str
    index: int
    host: str
    token: str
    ws: ClientConnection | None = None
    connect_seconds: float | None = None
    error: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    received: list[tuple[float, str]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        return self.ws is not None and self.close_code is None


async def read(socket: Socket) -> None:
    """Keep every frame with the time it reached this task; parsed after the run."""
    ws = socket.ws
    assert ws is not None
    received = socket.received
    try:
        async for message in ws:
            received.append((time.time(), message))
    except ConnectionClosed:
        pass
    finally:
        socket.close_code = ws.close_code if ws.close_code is not None else -1
        socket.close_reason = ws.close_reason


async def open_socket(socket: Socket, config: dict, gate: asyncio.Semaphore) -> None:
    url = f"ws://{socket.host}:{config['port']}{config['path']}"
    async with gate:
        started = time.perf_counter()
        try:
            socket.ws = await connect(
                url,
                host="127.0.0.1",
                port=config["port"],
                subprotocols=["bearer", socket.token],
                compression="deflate" if config["compression"] == "deflate" else None,
                open_timeout=config["open_timeout"],
                close_timeout=2,
                ping_interval=None,  # the server pings (uvicorn: every 20 s); no extra load here
                max_size=2**20,
                max_queue=None,
            )
        except Exception as exc:  # every failure is counted, none ends the run
            socket.error = f"{type(exc).__name__}: {exc}"[:200]
            return
        socket.connect_seconds = time.perf_counter() - started
    socket.reader = asyncio.create_task(read(socket))


async def watch_lag(samples: list[float], stop: asyncio.Event) -> None:
    """How late the loop wakes a 5 ms sleep: this process's own share of the latency."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + LAG_TICK_SECONDS
        await asyncio.sleep(LAG_TICK_SECONDS)
        samples.append(max(0.0, loop.time() - planned) * 1000)


def quantile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def all_received(sockets: list[Socket], expect: dict[str, int]) -> bool:
    return all(len(s.received) >= expect.get(s.label, 0) for s in sockets if s.ws is not None)


def parse(socket: Socket) -> list[dict[str, Any]]:
    rows = []
    for received_at, text in socket.received:
        try:
            content = json.loads(text)
        except ValueError:
            content = {"type": "<not json>"}
        data = content.get("data") if isinstance(content.get("data"), dict) else {}
        rows.append(
            {
                "t": received_at,
                "type": content.get("type"),
                "id": content.get("id"),
                "sent": data.get("sent"),
                "tenant": data.get("tenant"),
            }
        )
    return rows


async def main(config: dict) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = [
        Socket(label=group["label"], index=index, host=group["host"], token=token)
        for group in config["groups"]
        for index, token in enumerate(
            group["tokens"][i % len(group["tokens"])] for i in range(group["count"])
        )
    ]
    gate = asyncio.Semaphore(config["concurrency"])
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(open_socket(s, config, gate) for s in sockets)),
        timeout=config["connect_phase_timeout"],
    )
    connect_wall = time.perf_counter() - started
    await asyncio.sleep(config["settle_seconds"])

    by_label: dict[str, dict[str, Any]] = {}
    for group in config["groups"]:
        members = [s for s in sockets if s.label == group["label"]]
        times = [s.connect_seconds * 1000 for s in members if s.connect_seconds is not None]
        closed: dict[str, int] = {}
        for s in members:
            if s.ws is not None and not s.open:
                key = f"{s.close_code} {s.close_reason or ''}".strip()
                closed[key] = closed.get(key, 0) + 1
        by_label[group["label"]] = {
            "requested": len(members),
            "connected": len(times),
            "failed": sum(1 for s in members if s.error),
            "errors": sorted({s.error for s in members if s.error})[:5],
            "open_after_settle": sum(1 for s in members if s.open),
            "closed_after_connect": closed,
            "connect_ms_p50": quantile(times, 0.5),
            "connect_ms_p99": quantile(times, 0.99),
            "connect_ms_max": max(times) if times else None,
        }
    emit(
        {
            "event": "connected",
            "wall_seconds": connect_wall,
            "cpu_seconds": cpu_seconds(),
            "rlimit_nofile": [soft, hard],
            "groups": by_label,
        }
    )

    phases = []
    while True:
        lag: list[float] = []
        stop = asyncio.Event()
        lag_task = asyncio.create_task(watch_lag(lag, stop))
        cpu_before = cpu_seconds()
        line = await asyncio.to_thread(sys.stdin.readline)
        command = json.loads(line) if line.strip() else {"cmd": "close"}
        complete = False
        if command.get("cmd") == "wait":
            expect = command["expect"]
            deadline = time.monotonic() + command["timeout"]
            while time.monotonic() < deadline:
                if all_received(sockets, expect):
                    complete = True
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(config["grace_seconds"])
        stop.set()
        await lag_task
        if command.get("cmd") != "wait":
            break
        phase = {
            "complete": complete,
            "cpu_seconds": cpu_seconds() - cpu_before,
            "loop_lag_ms": {
                "samples": len(lag),
                "p50": quantile(lag, 0.5),
                "p99": quantile(lag, 0.99),
                "max": max(lag) if lag else None,
            },
        }
        phases.append(phase)
        emit({"event": "received", **phase})

    open_at_end = {id(s): s.open for s in sockets}  # before this process closes any
    gate = asyncio.Semaphore(config["concurrency"] * 4)

    async def close(socket: Socket) -> None:
        async with gate:
            if socket.ws is not None:
                with contextlib.suppress(Exception):
                    await socket.ws.close()
            if socket.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(socket.reader, timeout=5)

    await asyncio.gather(*(close(s) for s in sockets))

    result = {
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "phases": phases,
        "sockets": [
            {
                "label": s.label,
                "index": s.index,
                "connected": s.ws is not None,
                "connect_ms": None if s.connect_seconds is None else s.connect_seconds * 1000,
                "error": s.error,
                "open_at_end": open_at_end[id(s)],
                "close_code": s.close_code,
                "frames": parse(s),
            }
            for s in sockets
        ],
    }
    with open(config["results_path"], "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    emit({"event": "done"})


def run() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(config))
    else:
        uvloop.run(main(config))


if __name__ == "__main__":
    run()
