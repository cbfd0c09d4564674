"""What every benchmark shares: options, its own database and Redis DB, statistics, the machine,
and the results writer (a JSON summary, and markdown rendered from that JSON alone).

A benchmark builds its parser with ``options()``; ``start()`` gives it its ``Run`` (services
claimed, Django set up); it measures, ``Run.close()`` drops what it made, and ``Run.finish()``
writes the summary: ``tables`` (``table()``), ``notes``, ``targets`` (``target()``) and any
figures. ``python benchmarks/harness.py render`` re-renders every ``results/*.md`` from its
JSON. uvicorn and Celery run under the test suite's ``tests/driver.py`` (``server()``,
``worker()``); it imports Django, so they are loaded after ``start()``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
# The summary line of `tenants migrate` (atrium/tenants/management/commands/tenants.py).
MIGRATE_SUMMARY = re.compile(
    r"Checked (?P<checked>\d+) schemas in (?P<seconds>[\d.]+) s: (?P<migrated>\d+) migrated, "
    r"(?P<current>\d+) already up to date, (?P<failed>\d+) failed\."
)
PACKAGES = ("django", "django-tenants", "djangorestframework", "uvicorn", "celery", "channels")


class BenchmarkError(RuntimeError):
    """The run cannot give an honest measurement; the message says why."""


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# ----------------------------------------------------------------------------- options


def options(doc: str, *, database: str | None = None, redis_db: int | None = None, **kwargs):
    """The parser every benchmark starts from; ``database``/``redis_db`` add the bench
    database and Redis DB options (the database is dropped and re-created)."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        **kwargs,
    )
    if database:
        url = f"postgres://postgres@127.0.0.1/{database}"
        url = os.environ.get("ATRIUM_BENCH_DATABASE_URL", url)
        parser.add_argument("--database-url", default=url, help="its name must contain 'bench'")
    if redis_db is not None:
        url = os.environ.get("ATRIUM_BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
        parser.add_argument("--redis-url", default=url, help="a Redis DB nobody else uses")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the database and Redis DB")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser


# ----------------------------------------------------------------------------- services


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    name = database_name(url)
    if "bench" not in name:
        raise BenchmarkError(f"refusing {name!r}: a bench database's name contains 'bench'")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def claim_redis(url: str, marker: str):
    """The bench Redis DB, emptied; refuses a DB holding keys the benchmark did not write."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    size = client.dbsize()
    if size and not client.exists(marker):
        raise BenchmarkError(f"Redis {url} holds {size} keys not written by a benchmark")
    client.flushdb()
    client.set(marker, "1")
    return client


def start(parser, name, title: str, settings="config.settings.dev", redis_urls=(), **env):
    """Parse the options, point this process and its children at the bench database and Redis
    DB(s) (``redis_urls``: more options naming one; all emptied), re-create the database and
    set Django up: (options, ``Run``). ``name`` and ``env`` values may be callables of the
    options. A script imports Django's modules after this."""
    args = parser.parse_args()
    run = Run(name(args) if callable(name) else name, title, args)
    run.env = {
        **dict.fromkeys(("REDIS_URL", "CELERY_BROKER_URL", "CHANNEL_REDIS_URL"), args.redis_url),
        "DJANGO_SETTINGS_MODULE": settings,
        "DATABASE_URL": args.database_url,
        **{"DEBUG": "0", "LOG_LEVEL": "WARNING", "ATRIUM_SPARE_POOL_SIZE": "0"},
        "JWT_ACCESS_MINUTES": "240",  # one token outlives the run
        **{key: value(args) if callable(value) else value for key, value in env.items()},
    }
    os.environ.update(run.env)
    urls = [args.redis_url, *(getattr(args, option) for option in redis_urls)]
    run.claimed = [claim_redis(url, "atrium-bench:" + run.name) for url in urls]
    if not getattr(args, "reuse", False):
        recreate_database(args.database_url)
    __import__("django").setup()
    return args, run


def bench_tenant(slug: str = "bench", plan: str = "enterprise") -> dict:
    """Public schema, template, and one tenant with its owner (``owner@<slug>.test``, a random
    password): its owner's id and password. On ``plan``: enterprise by default, which has no
    quotas (the catalog benchmark's 10,000 products and the products its runs create are
    ten times the free plan's; request limits are the benchmark settings' own)."""
    import secrets

    from django.core.management import call_command
    from django.db import connections

    from atrium.platform.accounts.models import User
    from atrium.tenants.context import tenant_scope
    from atrium.tenants.provisioning import tenant_create

    call_command("tenants", "migrate", stdout=io.StringIO())
    password, email = secrets.token_urlsafe(18), f"owner@{slug}.test"
    tenant = tenant_create(
        slug=slug, name=slug, owner_email=email, owner_password=password, plan=plan
    ).tenant
    with tenant_scope(tenant):
        user_id = str(User.objects.get(email=email).pk)
    connections.close_all()
    return {"user_id": user_id, "password": password, "email": email, "host": f"{slug}.localhost"}


def manage(*arguments: str, timeout: float | None = 3600, check: bool = True, env=None):
    """``manage.py <arguments>`` as a subprocess with this process's environment (plus
    ``env``), timed (``.seconds``)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *arguments],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    result.seconds = time.perf_counter() - started
    if check and result.returncode:
        raise BenchmarkError(f"manage.py {' '.join(arguments)}: {result.stdout}{result.stderr}")
    return result


def server(env: dict):
    """A started ``tests.driver.Server`` (uvicorn) with the run's environment: ``with``-able."""
    from tests.driver import Server

    return Server(env={**os.environ, **env}, log_level="warning")


def worker(app="config", queue="celery", concurrency=2, env=None, extra=()):
    """A ``celery worker`` (prefork) of ``app`` on ``queue`` with the run's environment (an
    ``env`` value of None removes that variable), built on ``tests.driver.ManagedProcess``:
    ``with``-able, ready once it logs so."""
    from tests.driver import ManagedProcess, wait_for

    class Worker(ManagedProcess):
        name = f"celery-{queue}"
        hostname = f"bench-{queue}-{os.getpid()}@localhost"

        def command(self) -> list[str]:
            return [
                *(sys.executable, "-m", "celery", "-A", app, "worker", "--pool=prefork"),
                *(f"--concurrency={concurrency}", "--loglevel=INFO", "-Q", queue),
                *("-n", self.hostname, "--without-gossip", "--without-mingle", *extra),
            ]

        def environment(self) -> dict[str, str]:
            merged = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO_ROOT)}
            return {k: v for k, v in merged.items() if v is not None}

        def wait_ready(self, timeout: float) -> None:
            def ready() -> bool:
                return f"{self.hostname} ready." in self.output_since_start()

            wait_for(ready, "the worker to be ready", self, timeout=timeout)

        def cpu(self) -> float:
            return sum(cpu_seconds(pid) or 0 for pid in process_tree(self.pid))

        def pids(self) -> list[int]:
            return process_tree(self.pid)

    return Worker()


# ----------------------------------------------------------------------------- statistics


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (NumPy's default method)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary_ms(seconds: list[float]) -> dict:
    """n, p50, p95, p99, max and mean in milliseconds of a list of durations in seconds."""
    ms = [value * 1000 for value in seconds]
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        **{f"p{q}_ms": round(percentile(ms, q / 100), 2) for q in (50, 95, 99)},
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


LATENCY = "n | p50 ms | p95 ms | p99 ms | max ms | mean ms"  # the columns of latency_cells()


def latency_cells(summary: dict) -> list:
    return [summary.get(key) for key in ("n", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")]


def spread(values: list[float], digits: int = 1) -> dict:
    """mean, sd and the values themselves of a few per-round figures."""
    return {
        "mean": round(statistics.fmean(values), digits),
        "sd": round(statistics.stdev(values), digits) if len(values) > 1 else 0.0,
        "rounds": [round(v, digits) for v in values],
    }


def rounds(measure, labels: list[str], count: int, warmup: float, duration: float) -> dict:
    """``measure(label, seconds, round)`` once per label untimed (round 0), then ``count``
    rounds whose order rotates, so that drift hits every label alike: results per label."""
    for label in labels:
        measure(label, warmup, 0)
    results: dict[str, list] = {label: [] for label in labels}
    for number in range(1, count + 1):
        shift = (number - 1) % len(labels)
        for label in labels[shift:] + labels[:shift]:
            results[label].append(measure(label, duration, number))
            log(f"round {number} {label}: {results[label][-1]['per_second']:,.1f}/s")
    return results


def mean(results: list[dict], *path: str, digits: int = 2) -> float:
    """The mean over rounds of ``result[path[0]][path[1]]…``."""
    values = []
    for result in results:
        for key in path:
            result = result[key]
        values.append(result)
    return round(statistics.fmean(values), digits)


def target(name: str, value: float, op: str, bound: float) -> dict:
    """One row of the targets table: ``value op bound`` (op one of <=, >=, ==)."""
    met = {"<=": value <= bound, ">=": value >= bound, "==": value == bound}[op]
    shown = value if isinstance(value, bool) else round(value, 4)
    bound = ("yes" if bound else "no") if isinstance(bound, bool) else f"{bound:g}"
    return {"name": name, "value": shown, "target": f"{op} {bound}", "met": met}


# ----------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (``/proc/<pid>/stat``), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """A process and its children (a Celery pool's processes, gunicorn's workers)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [pid, *map(int, f.read().split())]
    except OSError:
        return [pid]


def proc_field(path: str, key: str) -> str | None:
    """The value after ``key:`` in a ``/proc`` file; None when the file or the key is missing."""
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    return None


def memory_kib(pid: int, field: str = "VmRSS") -> int | None:
    """``VmRSS`` (``/proc/<pid>/status``) or ``Pss`` (``smaps_rollup``, needs root) in KiB."""
    value = proc_field(f"/proc/{pid}/{'smaps_rollup' if field == 'Pss' else 'status'}", field)
    return int(value.split()[0]) if value else None


# ----------------------------------------------------------------------------- machine


def git_state() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    changes = git("status", "--porcelain").splitlines()
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changes)}


def machine(database_url: str | None = None, redis_url: str | None = None) -> dict:
    """CPUs, memory, versions (Python, packages, PostgreSQL, Redis) and the load average."""
    memory = proc_field("/proc/meminfo", "MemTotal")
    info = {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": proc_field("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_gib": round(int(memory.split()[0]) / 1024**2, 1) if memory else None,
        "python": platform.python_version(),
    }
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[name] = metadata.version(name)
    if database_url:
        maintenance = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
        with psycopg.connect(maintenance, connect_timeout=5) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    if redis_url:
        info["redis"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    return info


# ----------------------------------------------------------------------------- results


class Run:
    """One run of a benchmark: its command, start, machine load; ``finish()`` writes it."""

    def __init__(self, name: str, title: str, args) -> None:
        self.name, self.title, self.args = name, title, args
        self.command = shlex.join([".venv/bin/python", *sys.argv])
        self.started_at = datetime.now(UTC)
        self.started = time.perf_counter()
        self.load_at_start = round(os.getloadavg()[0], 2)

    @functools.cached_property
    def workdir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"atrium-bench-{self.name}-"))

    def close(self, *databases: str) -> None:
        """Close Django's connections; unless ``--keep``, drop the bench database (and
        ``databases``) and empty the Redis DBs."""
        from django.db import connections

        connections.close_all()
        if not self.args.keep:
            for url in (self.args.database_url, *databases):
                recreate_database(url, drop_only=True)
            for client in self.claimed:
                client.flushdb()
            if "workdir" in self.__dict__:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def finish(self, *, tables: list, targets: list, notes=(), parameters=None, **extra) -> int:
        """Write ``<name>.json`` and ``<name>.md`` (parameters: the options by default); the
        exit status (``--check``)."""
        args = self.args
        parameters = parameters or {k: str(v) for k, v in vars(args).items() if k != "results_dir"}
        results = {
            "benchmark": self.name,
            "title": self.title,
            "command": self.command,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_seconds": round(time.perf_counter() - self.started, 1),
            "parameters": parameters,
            "git": git_state(),
            "machine": {
                **machine(getattr(args, "database_url", None), getattr(args, "redis_url", None)),
                "load_average_start_end": [self.load_at_start, round(os.getloadavg()[0], 2)],
            },
            "notes": list(notes),
            "tables": tables,
            "targets": targets,
            **extra,
        }
        text = write(results, Path(args.results_dir))
        print(text)
        return 1 if args.check and not all(t["met"] for t in targets) else 0


def table(title: str, columns: str, rows: list[list]) -> dict:
    """A table of the results: ``columns`` as one string, ``"a | b | c"``."""
    return {"title": title, "columns": columns.split(" | "), "rows": rows}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        digits = 3 if abs(value) < 1 else 2 if abs(value) < 100 else 0
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(results: dict) -> str:
    """The markdown of a results JSON: everything in it comes from that JSON."""
    m, git = results["machine"], results["git"]
    lines = [
        f"# {results['title']}",
        "",
        f"Run {results['started_at']} ({results['duration_seconds']:.0f} s), commit "
        f"{(git['commit'] or 'unknown')[:9]}{'+changes' if git['dirty'] else ''}: "
        f"`{results['command']}`.",
        "",
    ]
    lines += [note for line in results.get("notes", []) for note in (line, "")]
    rows = [[t["name"], t["value"], t["target"], t["met"]] for t in results["targets"]]
    extra = [table("", "Target | value | target | met", rows)] if rows else []
    for t in results["tables"] + extra:
        lines += [f"**{t['title']}**", ""] if t["title"] else []
        numeric = [all(_number(row[i]) for row in t["rows"]) for i in range(len(t["columns"]))]
        lines.append("| " + " | ".join(t["columns"]) + " |")
        lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in t["rows"]]
        lines.append("")
    skip = ("cpus", "cpu_model", "memory_gib", "load_average_start_end")
    versions = ", ".join(f"{k} {v}" for k, v in m.items() if k not in skip)
    start, end = m["load_average_start_end"]
    lines.append(
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM; {versions}; "
        f"load average {start} at the start, {end} at the end."
    )
    return "\n".join(lines) + "\n"


def write(results: dict, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{results['benchmark']}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    path.with_suffix(".md").write_text(text := markdown(results), encoding="utf-8")
    return text


def run_pytest_report(test: str, prefix: str, sizes: dict, timeout: float) -> tuple:
    """Run ``test`` with ``<prefix>_<NAME>`` set from ``sizes``; it writes its figures to the
    file named by ``<prefix>_REPORT``. (exit status, figures or None)"""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, **{f"{prefix}_{name}": str(value) for name, value in sizes.items()}}
        env[f"{prefix}_REPORT"] = str(report)
        command = [sys.executable, "-m", "pytest", test, "-q", "-s", "-p", "no:cacheprovider"]
        command += ["-o", f"timeout={int(timeout)}"]
        status = subprocess.run(command, cwd=REPO_ROOT, env=env, timeout=timeout + 60).returncode
        return status, (json.loads(report.read_text()) if report.exists() else None)


def main(argv: list[str]) -> int:
    """``render [files]``: rewrite the markdown of results JSON files (default: all)."""
    if not argv or argv[0] != "render":
        print("usage: python benchmarks/harness.py render [results/*.json]", file=sys.stderr)
        return 2
    for path in [Path(p) for p in argv[1:]] or sorted(RESULTS_DIR.glob("*.json")):
        (path.with_suffix(".md")).write_text(markdown(json.loads(path.read_text())))
        print(f"rendered {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
