"""What the benchmark scripts share: bench database and Redis DB, statistics, machine, output.

Each benchmark runs on a database of its own (its name contains ``bench``; dropped and
re-created by the script) and a Redis DB it claims with a marker key. These helpers do
not import Django, so a script can use them before ``django.setup()``.
"""

from __future__ import annotations

import math
import os
import platform
import re
import socket
import statistics
import subprocess
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

# The summary line of `tenants migrate` (atrium/tenants/management/commands/tenants.py).
MIGRATE_SUMMARY = re.compile(
    r"Checked (?P<checked>\d+) schemas in (?P<seconds>[\d.]+) s: (?P<migrated>\d+) migrated, "
    r"(?P<current>\d+) already up to date, (?P<failed>\d+) failed\."
)


class BenchmarkError(RuntimeError):
    """The run cannot give an honest measurement; the message says why."""


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# ----------------------------------------------------------------------------- services


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def maintenance_url(url: str) -> str:
    """The same server, database ``postgres``: where CREATE/DROP DATABASE run."""
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def refuse_foreign_database(url: str) -> None:
    if "bench" not in database_name(url):
        raise SystemExit(
            f"Refusing to use {database_name(url)!r}: the bench database is dropped and "
            "re-created, so its name must contain 'bench'."
        )


def drop_database(url: str, *, create_again: bool = False) -> None:
    name = sql.Identifier(database_name(url))
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if create_again:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def claim_redis_db(url: str, marker_key: str) -> redis.Redis:
    """The bench Redis DB, emptied; refuses a DB holding keys the benchmark did not write."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.ping()
    size = client.dbsize()
    if size and not client.exists(marker_key):
        raise BenchmarkError(
            f"Redis DB {url} holds {size} keys that this benchmark did not write; "
            "choose a free one with --redis-url."
        )
    client.flushdb()
    client.set(marker_key, "1")
    return client


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- statistics


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (NumPy's default method)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize_ms(seconds: list[float], *, keep_samples: bool = True) -> dict:
    ms = [s * 1000 for s in seconds]
    summary = {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "min_ms": round(min(ms), 2),
    }
    if keep_samples:
        summary["samples_ms"] = [round(v, 2) for v in ms]
    return summary


# ----------------------------------------------------------------------------- processes


def proc_status_kib(pid: int, field: str) -> int | None:
    """A ``/proc/<pid>/status`` field in KiB (VmRSS, VmHWM, …), None when the pid is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pss_kib(pid: int) -> int | None:
    """Proportional set size: private memory plus a share of the shared pages.

    For a PostgreSQL backend, RSS counts every page of shared_buffers it has touched;
    PSS divides those among the processes that map them, so it is closer to what one
    more backend costs. Reading another user's smaps_rollup needs root (or ptrace rights).
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU a process has used (``/proc/<pid>/stat``), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(c) for c in handle.read().split()]
    except OSError:
        return []


# ----------------------------------------------------------------------------- machine


def read_first(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def git_state() -> dict:
    """The commit measured, and what in the tree differed from it."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    changes = git("status", "--porcelain", "--untracked-files=normal").splitlines()
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(changes),
        "uncommitted": changes[:50],
    }


def machine_basics() -> dict:
    mem_kib = read_first("/proc/meminfo", "MemTotal")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": read_first("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_gib": round(int(mem_kib.split()[0]) / 1024**2, 1) if mem_kib else None,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
