"""Redis (the cache and its key space) and Celery (broker, limits, beat)."""

import os
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from kombu import Queue

from atrium.conf import env, env_int

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_db_url(url: str, db: int) -> str:
    """The Redis server of ``url`` with another database index."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # Every cache key goes through the tenant key space (t:<schema>:cache:…).
        "KEY_FUNCTION": "atrium.tenants.keyspace.cache_key",
        "OPTIONS": {
            # clear() empties the active tenant's cache only, not the shared database.
            "CLIENT_CLASS": "atrium.tenants.keyspace.TenantCacheClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # A cache outage degrades to misses instead of failing requests.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True


# Background work (atrium/platform/tasks.py): the sender's tenant travels with each task.
# The broker (and the result backend) use a Redis database of their own (index 1 of
# REDIS_URL's server): Celery's keys cannot carry a tenant prefix, so they stay out of the
# tenant key space, where every key is t:<schema>:… or p:… (atrium/tenants/keyspace.py).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", redis_db_url(REDIS_URL, 1))
# Tasks report through the database, job progress in Redis and events, not results. Only
# Chords need a result backend for their join; results are kept only by tasks that ask
# (CELERY_TASK_IGNORE_RESULT below) and expire after a day.
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", CELERY_BROKER_URL) or None
CELERY_RESULT_EXPIRES = env_int("CELERY_RESULT_EXPIRES", 86400)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redis hands a message to another worker when it is not acknowledged within the visibility
# timeout; tasks declared idempotent acknowledge after their run, so no run may last that
# long: the hard time limit stays below it (and below the idempotency lease, one hour).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
# The queues a worker started without -Q consumes: the default one and the webhooks'
# deliveries (atrium/platform/webhooks/tasks.py), so `make run` and compose's worker send
# webhooks with no option; a dedicated worker can take `-Q webhooks` alone.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue(env("ATRIUM_WEBHOOK_QUEUE", "webhooks")))
# One message per worker process at a time: a process that dies holds no queue of others.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
# Celery's Django fixup closes every connection (and, with a pool, the pool) around every
# task unless this is set; our task signals recycle connections per task instead, as Django
# does per request (atrium.platform.tasks). The fixup still closes them every N tasks.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
# Beat only remembers when each entry last ran; losing the file just means "run when due".
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME",
    os.path.join(os.environ.get("TMPDIR", "/tmp"), "atrium-celerybeat-schedule"),
)
# Beat's entries of the platform. The periodic work of every tenant is declared by the app
# it belongs to (AppConfig.tenant_periodic_tasks) and added to this schedule by the Celery
# app (atrium/platform/schedule.py), one fan-out entry per task.
CELERY_BEAT_SCHEDULE = {
    "tenants.pool_refill": {
        "task": "tenants.pool_refill",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 5 * 60},
    },
    # Metering: the day's per-tenant usage counters, from Redis into TenantUsage.
    "tenants.usage_flush": {
        "task": "tenants.usage_flush",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 5 * 60},
    },
}
