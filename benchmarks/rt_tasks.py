"""Tasks of the Celery part of ``benchmarks/realtime.py``, on Atrium's app (``config.celery``).

The bench's Atrium worker imports this module (``celery -A config.celery worker -I
benchmarks.rt_tasks``). Both tasks do the same, the least a task can do and still be seen
to finish: INCR a counter in the bench's Redis DB, which the benchmark polls.

* ``bench.rt.tenant_noop``: ``@tenant_task``, the tenant-aware base (``TenantTask``),
  sent inside ``tenant_scope(tenant)``;
* ``bench.rt.atrium_plain_noop``: the same app and worker, Celery's own ``celery.Task``
  as its base (``base=`` given explicitly: the app's default class is ``ScopedTask``).

The plain Celery baseline without Atrium in the worker at all is ``benchmarks/rt_plain.py``.
"""

from __future__ import annotations

import os

import celery
import redis

from atrium.platform.tasks import tenant_task
from config.celery import app

COUNTER_URL_ENV = "ATRIUM_BENCH_RT_COUNTER_URL"
_counter: redis.Redis | None = None


def counter() -> redis.Redis:
    """One client per worker process (created after the fork, on first use)."""
    global _counter
    if _counter is None:
        _counter = redis.Redis.from_url(os.environ[COUNTER_URL_ENV])
    return _counter


@tenant_task(name="bench.rt.tenant_noop")
def tenant_noop(counter_key: str) -> None:
    counter().incr(counter_key)


@app.task(base=celery.Task, name="bench.rt.atrium_plain_noop")
def atrium_plain_noop(counter_key: str) -> None:
    counter().incr(counter_key)
