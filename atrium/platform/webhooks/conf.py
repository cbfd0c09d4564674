"""Settings of webhooks and their defaults (``atrium_settings.MAX_WEBHOOKS`` …, see
``atrium/conf.py``); each default can also come from the environment variable of its name."""

from atrium.conf import env, env_bool, env_int

# Seconds after a failed attempt before the next one (jitter of +-20 % is added): ten
# attempts over about 22 hours, the first retry after about 5 s.
RETRY_SCHEDULE = [5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600]
_SCHEDULE_ENV = env("ATRIUM_WEBHOOK_RETRY_SCHEDULE", "")  # e.g. "5,30,120"

DEFAULTS = {
    # Endpoint URLs must be https. Off in development and tests; on in production settings.
    "WEBHOOK_REQUIRE_HTTPS": env_bool("ATRIUM_WEBHOOK_REQUIRE_HTTPS", False),
    # Host names and IPs (comma-separated) whose addresses may be private, loopback, ...:
    # only these escape the SSRF rules. The URL's host must be listed as written.
    "WEBHOOK_ALLOWED_HOSTS": env("ATRIUM_WEBHOOK_ALLOWED_HOSTS", ""),
    # Endpoints one tenant may have.
    "MAX_WEBHOOKS": env_int("ATRIUM_MAX_WEBHOOKS", 20),
    # Seconds one attempt may take (connect, send, answer), then it failed.
    "WEBHOOK_TIMEOUT": float(env("ATRIUM_WEBHOOK_TIMEOUT", "10")),
    # Bytes of a response read at most (the rest is not read); the first KiB is kept.
    "WEBHOOK_RESPONSE_MAX_BYTES": env_int("ATRIUM_WEBHOOK_RESPONSE_MAX_BYTES", 64 * 1024),
    "WEBHOOK_RESPONSE_KEEP_BYTES": 1024,
    # Delays between attempts (seconds); attempts = len + 1.
    "WEBHOOK_RETRY_SCHEDULE": (
        [float(x) for x in _SCHEDULE_ENV.split(",")] if _SCHEDULE_ENV else RETRY_SCHEDULE
    ),
    # Consecutive failed attempts after which an endpoint is disabled (webhook.disabled).
    "WEBHOOK_DISABLE_AFTER_FAILURES": env_int("ATRIUM_WEBHOOK_DISABLE_AFTER_FAILURES", 20),
    # Requests one tenant's drain has in flight at once, in all and per endpoint.
    "WEBHOOK_TENANT_CONCURRENCY": env_int("ATRIUM_WEBHOOK_TENANT_CONCURRENCY", 16),
    "WEBHOOK_ENDPOINT_CONCURRENCY": env_int("ATRIUM_WEBHOOK_ENDPOINT_CONCURRENCY", 4),
    # Seconds a drain runs before it hands over to a fresh message (others get the worker).
    "WEBHOOK_DRAIN_BUDGET": float(env("ATRIUM_WEBHOOK_DRAIN_BUDGET", "30")),
    # Hours a rotated-out secret keeps signing next to the new one.
    "WEBHOOK_SECRET_OVERLAP_HOURS": env_int("ATRIUM_WEBHOOK_SECRET_OVERLAP_HOURS", 24),
    # The Celery queue of deliveries (consumed by the default worker: CELERY_TASK_QUEUES).
    "WEBHOOK_QUEUE": env("ATRIUM_WEBHOOK_QUEUE", "webhooks"),
}
