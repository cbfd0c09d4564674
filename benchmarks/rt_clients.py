"""The WebSocket clients of the fan-out benchmark (``benchmarks/realtime.py``), one process:
``python -m benchmarks.rt_clients CONFIG.json``. No Django: asyncio (uvloop when installed)
and the ``websockets`` client, permessage-deflate offered as browsers do. In JSON lines with
its parent: it connects every socket (``concurrency`` handshakes at a time), waits a second,
writes ``{"event": "connected", …}``; reads ``{"expect": {"<label>": n}, "timeout": s}``, waits
until every socket of each label holds ``n`` frames (or the timeout) and one second more for
strays, closes them, writes each socket's frames to ``results`` and ``{"event": "done"}``.
A frame's time is ``time.time()`` when its reader task gets it: one machine, one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

# As a browser: permessage-deflate offered; the server pings, the client does not.
OPTIONS = {"host": "127.0.0.1", "compression": "deflate", "open_timeout": 30, "close_timeout": 2}
OPTIONS.update(ping_interval=None, max_queue=None)


class Socket:
    def __init__(self, label: str, host: str, token: str) -> None:
        self.label, self.host, self.token = label, host, token
        self.ws, self.connect_ms, self.close_code, self.reader = None, None, None, None
        self.frames: list[tuple[float, str]] = []

    @property
    def open_now(self) -> bool:
        return self.ws is not None and self.close_code is None

    async def open(self, config: dict, gate: asyncio.Semaphore) -> None:
        async with gate:
            started = time.perf_counter()
            with contextlib.suppress(Exception):  # a failed socket is counted, not fatal
                url, port = f"ws://{self.host}:{config['port']}/ws/events/", config["port"]
                self.ws = await connect(
                    url, port=port, subprotocols=["bearer", self.token], **OPTIONS
                )
                self.connect_ms = (time.perf_counter() - started) * 1000
        if self.ws is not None:
            self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for message in self.ws:
                self.frames.append((time.time(), message))
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code if self.ws.close_code is not None else -1


def emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def frame(received_at: float, text: str) -> list:
    try:
        content = json.loads(text)
    except ValueError:
        content = {}
    data = content.get("data") if isinstance(content.get("data"), dict) else {}
    return [received_at, content.get("type"), content.get("id"), data.get("sent")]


async def main(config: dict) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    sockets = [
        Socket(group["label"], group["host"], group["tokens"][n % len(group["tokens"])])
        for group in config["groups"]
        for n in range(group["count"])
    ]
    gate, started = asyncio.Semaphore(config["concurrency"]), time.perf_counter()
    await asyncio.gather(*(s.open(config, gate) for s in sockets))
    wall = time.perf_counter() - started
    await asyncio.sleep(1)
    groups = {}
    for label in {s.label for s in sockets}:
        mine = sorted(s.connect_ms for s in sockets if s.label == label and s.connect_ms)
        groups[label] = {
            "requested": sum(s.label == label for s in sockets),
            "connected": len(mine),
            "open": sum(s.label == label and s.open_now for s in sockets),
            "connect_ms_p50": mine[len(mine) // 2] if mine else None,
            "connect_ms_p99": mine[int(len(mine) * 0.99)] if mine else None,
        }
    emit({"event": "connected", "wall_seconds": wall, "groups": groups})
    command = json.loads(await asyncio.to_thread(sys.stdin.readline))
    deadline = time.monotonic() + command["timeout"]
    while time.monotonic() < deadline and not all(
        len(s.frames) >= command["expect"].get(s.label, 0) for s in sockets if s.ws
    ):
        await asyncio.sleep(0.02)
    await asyncio.sleep(1)
    open_at_end = [s.open_now for s in sockets]
    for s in sockets:
        if s.ws is not None:
            with contextlib.suppress(Exception):
                await s.ws.close()
    results = [  # label, connected, open at the end, frames
        [s.label, s.ws is not None, still_open, [frame(*f) for f in s.frames]]
        for s, still_open in zip(sockets, open_at_end, strict=True)
    ]
    with open(config["results"], "w", encoding="utf-8") as handle:
        json.dump(results, handle)
    emit({"event": "done"})


if __name__ == "__main__":
    try:
        import uvloop as runner
    except ImportError:
        runner = asyncio
    with open(sys.argv[1], encoding="utf-8") as config_file:
        runner.run(main(json.load(config_file)))
