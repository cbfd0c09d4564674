"""Logging, metrics, traces and error reports (atrium/platform/observability).

Logs: one line per record on stderr, readable text in development and tests, one JSON
object per line in production (``LOG_FORMAT=json|text`` overrides either). Every record
carries the request's (task's, socket's) tenant and request id; ``atrium.access`` writes one
line per request. Metrics, tracing and Sentry read their settings through atrium/conf.py
(``ATRIUM_METRICS_TOKEN``, ``ATRIUM_METRICS_ALLOW``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``SENTRY_DSN``): each is off, or closed, until its variable is set.
"""

from atrium.conf import env


def logging_config(log_format: str) -> dict:
    """Django's LOGGING for ``log_format`` (``json`` or ``text``)."""
    if log_format not in {"json", "text"}:
        raise ValueError(f"LOG_FORMAT is {log_format!r}: set it to json or text.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "atrium.platform.observability.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "atrium.platform.observability.logs.JsonFormatter"},
            "text": {"()": "atrium.platform.observability.logs.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
        "loggers": {
            "django_redis": {"level": "WARNING"},
            # Django's default config gives "django" a console handler of its own (DEBUG
            # only) and lets it propagate too, so every django.request warning came out twice.
            "django": {"handlers": [], "propagate": True},
        },
    }


LOG_FORMAT = env("LOG_FORMAT", "text")
LOGGING = logging_config(LOG_FORMAT)
# The worker logs through the handlers above (with the task's context), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
