#!/usr/bin/env python
"""A small HTTP/1.1 keep-alive load generator, for machines without ``wrk``.

``--connections`` connections, each sending one GET at a time (no pipelining) for
``--duration`` seconds, to a server on this machine. Prints one line, ``BENCH_JSON {…}``,
with the same fields as the benchmark's wrk script: requests, duration, bytes, errors and
latency percentiles. Any answer other than 200 counts as a status error. Uses uvloop when
it is installed. Not a general-purpose tool: it reads ``Content-Length`` and chunked bodies,
and stops at the first connection error of a connection.

    python benchmarks/httpload.py --url http://127.0.0.1:8000/healthz \\
        --header "Host: acme.localhost" --connections 8 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from urllib.parse import urlsplit


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds.")
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per response.")
    return parser.parse_args(argv)


def build_request(url: str, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"httpload: only http:// URLs, not {url!r}")
    lines = [f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1"]
    names = {h.split(":", 1)[0].strip().lower() for h in headers}
    if "host" not in names:
        lines.append(f"Host: {parts.netloc}")
    lines += [*headers, "Connection: keep-alive", "", ""]
    return parts.hostname, parts.port or 80, "\r\n".join(lines).encode("latin-1")


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.bytes = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    """(status, bytes read) of one response (Content-Length or chunked body)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed by the server")
    size = len(status_line)
    status = int(status_line.split(b" ", 2)[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        size += len(line)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ConnectionError("connection closed in the headers")
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
    if not chunked:
        if length:
            await reader.readexactly(length)
        return status, size + length
    while True:
        line = await reader.readline()
        chunk = int(line.split(b";", 1)[0], 16)
        size += len(line)
        if chunk == 0:
            while line not in (b"\r\n", b"\n", b""):  # trailers, then the blank line
                line = await reader.readline()
                size += len(line)
            return status, size
        await reader.readexactly(chunk + 2)
        size += chunk + 2


async def connection_loop(
    host: str, port: int, request: bytes, deadline: float, timeout: float, stats: Stats
) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        stats.errors["connect"] += 1
        return
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                writer.write(request)
                await writer.drain()
            except OSError:
                stats.errors["write"] += 1
                return
            try:
                status, size = await asyncio.wait_for(read_response(reader), timeout)
            except TimeoutError:
                stats.errors["timeout"] += 1
                return
            except (OSError, ValueError, ConnectionError, asyncio.IncompleteReadError):
                stats.errors["read"] += 1
                return
            stats.latencies.append(time.perf_counter() - started)
            stats.bytes += size
            if status != 200:
                stats.errors["status"] += 1
    finally:
        writer.close()


async def fetch_once(url: str, headers: list[str], timeout: float = 10.0) -> dict:
    """One GET on a fresh connection: status, headers (lower-case names), body, size."""
    host, port, request = build_request(url, headers)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        return await exchange(reader, writer, request, timeout)
    finally:
        writer.close()


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, timeout: float
) -> dict:
    """Send one request on an open (keep-alive) connection and read its whole response:
    status, headers (lower-case names), body, size."""
    writer.write(request)
    await writer.drain()
    raw: list[bytes] = []

    class Tee:
        async def readline(self) -> bytes:
            line = await reader.readline()
            raw.append(line)
            return line

        async def readexactly(self, n: int) -> bytes:
            data = await reader.readexactly(n)
            raw.append(data)
            return data

    status, size = await asyncio.wait_for(read_response(Tee()), timeout)  # type: ignore[arg-type]
    head, _, body = b"".join(raw).partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return {"status": status, "headers": fields, "body": body, "size": size}


def dechunk(data: bytes) -> bytes:
    body, rest = b"", data
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";", 1)[0] or b"0", 16)
        if size == 0:
            break
        body, rest = body + rest[:size], rest[size + 2 :]
    return body


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def run(args: argparse.Namespace) -> dict:
    host, port, request = build_request(args.url, args.header)
    stats = Stats()
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(
        *(
            connection_loop(host, port, request, deadline, args.timeout, stats)
            for _ in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(stats.latencies)
    us = 1_000_000
    return {
        "requests": len(ordered),
        "duration_us": round(elapsed * us),
        "bytes": stats.bytes,
        "errors": stats.errors,
        "latency_us": {
            "p50": round(percentile(ordered, 0.50) * us),
            "p90": round(percentile(ordered, 0.90) * us),
            "p99": round(percentile(ordered, 0.99) * us),
            "max": round(ordered[-1] * us) if ordered else None,
            "mean": round(sum(ordered) / len(ordered) * us, 1) if ordered else None,
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import uvloop
    except ImportError:
        summary = asyncio.run(run(args))
    else:
        summary = uvloop.run(run(args))
    print("BENCH_JSON " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
