"""Kicks and wake-ups of a tenant's drain (``tasks.drain``), sent by name so that the
services can ask for a drain without importing the task (see ``tasks.py`` for the why)."""

from __future__ import annotations

import logging

from celery import current_app
from django_redis import get_redis_connection

from atrium.conf import atrium_settings
from atrium.tenants.keyspace import scoped_key

logger = logging.getLogger("atrium.webhooks")

DRAIN_TASK = "webhooks.drain"
KICK_TTL = 60  # seconds a kick flag waits for its drain


def redis_client():
    return get_redis_connection("default")


def kick_key() -> str:
    return scoped_key("webhooks", "kick")


def wake_key() -> str:
    return scoped_key("webhooks", "wake")


def send_drain(countdown: float = 0) -> None:
    options = {"queue": atrium_settings.WEBHOOK_QUEUE}
    if countdown > 0:
        options["countdown"] = countdown
    current_app.signature(DRAIN_TASK).apply_async(**options)


def kick() -> None:
    """Ask for a drain of the tenant in scope (after deliveries were committed). Never
    raises: the deliveries are recorded, and the periodic drain finds them."""
    try:
        if redis_client().set(kick_key(), 1, nx=True, ex=KICK_TTL):
            send_drain()
    except Exception:
        logger.warning("webhooks: could not kick the drain", exc_info=True)
