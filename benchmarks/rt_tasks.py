"""Tasks of the Celery part of ``benchmarks/realtime.py`` on Atrium's app (``config.celery``),
imported by its worker (``--include benchmarks.rt_tasks``). Both INCR a counter the benchmark
polls, the least a task can do and still be seen to finish:

* ``bench.rt.tenant_noop``: ``@tenant_task``, the tenant-aware base, sent in ``tenant_scope``;
* ``bench.rt.atrium_plain_noop``: the same app and worker, Celery's own ``celery.Task`` as its
  base (given explicitly: the app's default class is Atrium's).
"""

from __future__ import annotations

import celery

from atrium.platform.tasks import tenant_task
from benchmarks.rt_plain import counter
from config.celery import app


@tenant_task(name="bench.rt.tenant_noop")
def tenant_noop(counter_key: str) -> None:
    counter().incr(counter_key)


@app.task(base=celery.Task, name="bench.rt.atrium_plain_noop")
def atrium_plain_noop(counter_key: str) -> None:
    counter().incr(counter_key)
