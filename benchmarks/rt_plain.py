"""The plain Celery baseline of ``benchmarks/realtime.py``: no Django, no Atrium.

``celery -A benchmarks.rt_plain worker`` runs a ``celery.Celery`` app whose configuration is
the Atrium app's own Celery settings, copied by the benchmark into ``ATRIUM_BENCH_RT_PLAIN_
CONF`` (JSON): same broker, serializer, prefetch multiplier, result and time-limit settings.
The worker is started without ``DJANGO_SETTINGS_MODULE``, so neither Celery's Django fixup
nor ``config`` (which imports ``atrium.platform.tasks`` and connects its task signals) is
loaded; ``bench.rt.plain_probe`` reports that from inside the worker.
"""

from __future__ import annotations

import json
import os
import sys

import celery
import redis

CONF_ENV = "ATRIUM_BENCH_RT_PLAIN_CONF"
COUNTER_URL_ENV = "ATRIUM_BENCH_RT_COUNTER_URL"

app = celery.Celery("atrium-bench-plain", set_as_current=False)
app.conf.update(json.loads(os.environ.get(CONF_ENV, "{}")))
_counter: redis.Redis | None = None


def counter() -> redis.Redis:
    """One client per worker process (created after the fork, on first use)."""
    global _counter
    if _counter is None:
        _counter = redis.Redis.from_url(os.environ[COUNTER_URL_ENV])
    return _counter


@app.task(name="bench.rt.plain_noop")
def plain_noop(counter_key: str) -> None:
    counter().incr(counter_key)


@app.task(name="bench.rt.plain_probe")
def plain_probe(result_key: str) -> None:
    """What this worker process has loaded: proof that the baseline is plain."""
    from celery.signals import task_postrun, task_prerun

    def receivers(signal) -> list[str]:
        # Each entry is ((dispatch_uid or id(receiver), id(sender)), receiver).
        return sorted(str(lookup[0]) for lookup, _ in signal.receivers)

    facts = {
        "django_loaded": "django.conf" in sys.modules,
        "atrium_loaded": any(name.startswith("atrium") for name in sys.modules),
        "config_loaded": "config" in sys.modules,
        "task_prerun_receivers": receivers(task_prerun),
        "task_postrun_receivers": receivers(task_postrun),
        "task_base": [f"{c.__module__}.{c.__name__}" for c in type(plain_noop).__mro__[1:3]],
    }
    counter().set(result_key, json.dumps(facts), ex=600)
