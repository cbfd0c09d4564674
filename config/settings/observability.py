"""Logging."""

from atrium.conf import env

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_redis": {"level": "WARNING"},
        # Django's default config gives "django" a console handler of its own (DEBUG only)
        # and lets it propagate too, so every django.request warning came out twice.
        "django": {"handlers": [], "propagate": True},
    },
}
