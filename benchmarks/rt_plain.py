"""The plain Celery baseline of ``benchmarks/realtime.py``: no Django, no Atrium.

``celery -A benchmarks.rt_plain worker`` runs a ``celery.Celery`` app configured with the
Atrium app's own Celery settings (JSON in ``ATRIUM_BENCH_RT_PLAIN_CONF``: same broker,
serializer, prefetch multiplier, time limits), started without ``DJANGO_SETTINGS_MODULE``;
``bench.rt.plain_probe`` reports from inside the worker that Django was never loaded.
"""

from __future__ import annotations

import json
import os
import sys

import celery
import redis

app = celery.Celery("atrium-bench-plain", set_as_current=False)
app.conf.update(json.loads(os.environ.get("ATRIUM_BENCH_RT_PLAIN_CONF", "{}")))
_counter: list[redis.Redis] = []


def counter() -> redis.Redis:
    """One client per worker process (created after the fork, on first use)."""
    if not _counter:
        _counter.append(redis.Redis.from_url(os.environ["ATRIUM_BENCH_RT_COUNTER_URL"]))
    return _counter[0]


@app.task(name="bench.rt.plain_noop")
def plain_noop(counter_key: str) -> None:
    counter().incr(counter_key)


@app.task(name="bench.rt.plain_probe")
def plain_probe(result_key: str) -> None:
    loaded = {"django_loaded": "django.conf" in sys.modules or "atrium" in sys.modules}
    counter().set(result_key, json.dumps(loaded), ex=600)
