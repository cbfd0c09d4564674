"""A small HTTP/1.1 keep-alive load generator (the benchmarks' client; ``wrk`` is not needed).

``measure()`` runs it as a subprocess (its CPU is not the benchmark's): ``connections``
connections each send one GET at a time for ``duration`` seconds and it returns requests,
seconds, bytes, errors (any status but 200 is one), latency percentiles and the ``X-Cache``
counts. With ``nonce`` every request gets ``&bench_nonce=<nonce>-<connection>-<n>``, a query
parameter no view reads, so every request misses the response cache. ``exchange()`` sends
one request on an open connection and reads the whole answer (``benchmarks/load.py``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter

from benchmarks.harness import REPO_ROOT, cpu_seconds, summary_ms

TIMEOUT = 10.0


async def read_response(reader, on_header=None) -> tuple[int, int]:
    """(status, bytes read) of one response (Content-Length or chunked body)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed by the server")
    size, status = len(status_line), int(status_line.split(b" ", 2)[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b"\n"):
        if not line:
            raise ConnectionError("connection closed in the headers")
        size += len(line)
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower() == b"chunked"
        elif on_header:
            on_header(name, value.strip())
    size += len(line)
    if not chunked:
        if length:
            await reader.readexactly(length)
        return status, size + length
    while True:
        line = await reader.readline()
        size += len(line)
        if (chunk := int(line.split(b";", 1)[0], 16)) == 0:
            while line not in (b"\r\n", b"\n", b""):  # trailers, then the blank line
                line = await reader.readline()
                size += len(line)
            return status, size
        await reader.readexactly(chunk + 2)
        size += chunk + 2


async def exchange(reader, writer, request: bytes, timeout: float = TIMEOUT) -> dict:
    """Send one request on an open (keep-alive) connection and read its whole response:
    status, headers (lower-case names), body (de-chunked), size."""
    writer.write(request)
    await writer.drain()
    raw: list[bytes] = []

    class Tee:
        async def readline(self) -> bytes:
            raw.append(await reader.readline())
            return raw[-1]

        async def readexactly(self, n: int) -> bytes:
            raw.append(await reader.readexactly(n))
            return raw[-1]

    status, size = await asyncio.wait_for(read_response(Tee()), timeout)
    head, _, body = b"".join(raw).partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        chunks, rest = b"", body
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            if not (length := int(line.split(b";", 1)[0] or b"0", 16)):
                break
            chunks, rest = chunks + rest[:length], rest[length + 2 :]
        body = chunks
    return {"status": status, "headers": fields, "body": body, "size": size}


async def _load(port: int, path: str, headers: dict, connections: int, duration: float, nonce):
    latencies: list[float] = []
    errors, cache, total_bytes = Counter(), {"hit": 0, "miss": 0, "other": 0}, 0
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    deadline = time.perf_counter() + duration

    async def connection(number: int) -> None:
        nonlocal total_bytes
        try:
            connecting = asyncio.open_connection("127.0.0.1", port)
            reader, writer = await asyncio.wait_for(connecting, TIMEOUT)
        except (OSError, TimeoutError) as exc:
            errors[f"connect: {type(exc).__name__}"] += 1
            return
        seen = {}

        def note(name: bytes, value: bytes) -> None:
            if name == b"x-cache":
                seen["x-cache"] = value.decode("latin-1")

        count = 0
        try:
            while time.perf_counter() < deadline:
                count += 1
                target = f"{path}&bench_nonce={nonce}-{number}-{count}" if nonce else path
                request = f"GET {target} HTTP/1.1\r\n{head}Connection: keep-alive\r\n\r\n"
                sent = time.perf_counter()
                seen.clear()
                try:
                    writer.write(request.encode("latin-1"))
                    await writer.drain()
                    status, size = await asyncio.wait_for(read_response(reader, note), TIMEOUT)
                except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    errors[type(exc).__name__] += 1  # this connection ends: the run is void
                    return
                latencies.append(time.perf_counter() - sent)
                total_bytes += size
                cache[seen.get("x-cache") if seen.get("x-cache") in cache else "other"] += 1
                errors[f"status {status}"] += status != 200
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(n) for n in range(1, connections + 1)))
    seconds = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "per_second": round(len(latencies) / seconds, 1),
        "bytes": total_bytes,
        "errors": {kind: n for kind, n in errors.items() if n},
        "latency": summary_ms(latencies),
        "cache": cache,
    }


def measure(port, path, headers, *, connections: int, duration: float, nonce="", pid=None):
    """One measurement in a subprocess: the summary above, and with ``pid`` the CPU that
    process (the server) spent per request meanwhile."""
    cpu = cpu_seconds(pid) if pid else 0
    config = json.dumps([port, path, headers, connections, duration, nonce])
    command = [sys.executable, "-m", "benchmarks.httpload", config]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"httpload failed: {done.stderr}")
    result = json.loads(done.stdout)
    if pid and result["requests"]:
        result["server_cpu_us"] = round((cpu_seconds(pid) - cpu) * 1e6 / result["requests"])
    return result


if __name__ == "__main__":
    try:
        import uvloop as runner
    except ImportError:
        runner = asyncio
    print(json.dumps(runner.run(_load(*json.loads(sys.argv[1])))))
