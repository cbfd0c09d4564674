"""The fixes proposed by the realtime benchmark, applied by patching, for measurement only.

``benchmarks/realtime.py --whatif`` serves ``benchmarks.rt_whatif:application`` and starts
the Atrium worker with ``--include benchmarks.rt_whatif``; nothing else imports this
module, and the application's code is unchanged. Each patch stands for a change proposed
in benchmarks/README.md (section "Realtime"); ``ATRIUM_BENCH_RT_WHATIF`` (``--whatif
LIST``) names the ones to apply, all by default:

1. ``layer-timeouts``: the channel layer's Redis connections get a read timeout longer
   than channels-redis' blocking receive (``BZPOPMIN`` for ``brpop_timeout`` = 5 s) and a
   pool sized for connection storms. redis-py 8 defaults to ``socket_timeout=5`` and a
   non-blocking pool of 100 connections: when a server process's sockets get no message
   for 5 s, the receive of the consumer that holds channels-redis' receive lock times out,
   the exception ends that consumer and the server drops its socket (1006); and more than
   100 concurrent joins or leaves fail with ``MaxConnectionsError``.
   ``pubsub-layer``: channels-redis' Redis pub/sub layer instead of the list-based one
   (the publisher must use it too: realtime.py switches its own settings). A group send is
   one PUBLISH; each server process subscribes once per group and hands the message to
   its local consumers' queues, instead of every consumer racing for channels-redis'
   receive lock with two new asyncio tasks per message. Group membership lives in the
   process (nothing stale in Redis when a process dies); there is no per-process
   capacity or expiry: an event nobody is subscribed to is lost, as events already may be.
2. ``db-reuse``: the worker keeps its PostgreSQL connection between tasks. Celery 5.7's
   Django fixup closes every connection before and after every task unless
   ``CELERY_DB_REUSE_MAX`` is set; here it does what Django does around a request,
   ``close_if_unusable_or_obsolete()``, and realtime.py gives the worker (only)
   ``DB_CONN_MAX_AGE=60``: a prefork process runs one task at a time on one thread, so
   its connection cannot pile up the way per-request threads do under ASGI.
3. ``tenant-cache``: the worker resolves a task's tenant from a per-process cache by
   schema (kept for ``TENANT_CACHE_SECONDS``) instead of one SQL query per task.

The fourth fix the benchmark found, events skipping Channels' per-message
``aclose_old_connections()`` in ``EventsConsumer.dispatch``, is in the application since
commit abe94b5, so it is not patched here.
"""

from __future__ import annotations

import contextlib
import os
import time

import django
from celery.fixups import django as celery_django_fixup
from django.apps import apps

if not apps.ready:  # uvicorn imports this module first; the worker has set Django up
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    django.setup()

from atrium.platform import tasks as atrium_tasks

TENANT_CACHE_SECONDS = 30.0
FIXES = ("layer-timeouts", "pubsub-layer", "db-reuse", "tenant-cache")
PUBSUB_BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"
# Which fixes to apply: a comma-separated subset of FIXES (set by realtime.py --whatif).
ENABLED = {
    name.strip()
    for name in os.environ.get("ATRIUM_BENCH_RT_WHATIF", ",".join(FIXES)).split(",")
    if name.strip()
}
if ENABLED - set(FIXES):
    raise RuntimeError(f"Unknown fixes {sorted(ENABLED - set(FIXES))}; choose from {FIXES}.")

# 1. -------------------------------------------------------------------- channel layer

LAYER_SOCKET_TIMEOUT = 10  # seconds, above channels-redis' brpop_timeout (5)
LAYER_MAX_CONNECTIONS = 1000  # per process

if "layer-timeouts" in ENABLED:
    from django.conf import settings

    for _host in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]:
        _host.setdefault("socket_timeout", LAYER_SOCKET_TIMEOUT)
        _host.setdefault("max_connections", LAYER_MAX_CONNECTIONS)

if "pubsub-layer" in ENABLED:
    from django.conf import settings

    settings.CHANNEL_LAYERS["default"]["BACKEND"] = PUBSUB_BACKEND

# 2. -------------------------------------------------------------------- worker connections


def _close_database_like_a_request(self, **kwargs) -> None:
    """What the fixup runs before and after each task (process start-up is unchanged)."""
    for conn in self._db.connections.all(initialized_only=True):
        with contextlib.suppress(self.interface_errors):
            conn.close_if_unusable_or_obsolete()


if "db-reuse" in ENABLED:
    celery_django_fixup.DjangoWorkerFixup.close_database = _close_database_like_a_request

# 3. -------------------------------------------------------------------- tenant by schema

_lookup = atrium_tasks._tenant_for_schema
_tenants: dict[str, tuple[float, object]] = {}


def _cached_tenant_for_schema(schema_name: str):
    now = time.monotonic()
    hit = _tenants.get(schema_name)
    if hit is not None and now - hit[0] < TENANT_CACHE_SECONDS:
        return hit[1]
    tenant = _lookup(schema_name)
    _tenants[schema_name] = (now, tenant)
    return tenant


if "tenant-cache" in ENABLED:
    atrium_tasks._tenant_for_schema = _cached_tenant_for_schema


def __getattr__(name: str):
    # ``rt_whatif:application`` for uvicorn, imported only when asked for: the worker
    # includes this module too, and must not build the ASGI application.
    if name == "application":
        from config.asgi import application

        return application
    raise AttributeError(name)
