"""App config for webhooks: its label, where its API is mounted, its periodic work."""

from celery.schedules import crontab
from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "atrium.platform.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"
    # Mounted at /api/v1/webhooks/ by config/urls_tenant.py (atrium.platform.api.urls).
    api_prefix = "webhooks/"
    # A safety net: a drain whose wake-up message was lost (a worker killed while it held
    # the countdown) is started again within ten minutes. Retries are normally woken by
    # their own countdown message (tasks.py).
    tenant_periodic_tasks = {"webhooks.drain": crontab(minute="*/10")}

    def ready(self) -> None:
        # The drain is sent by name (kicks.py); registered here so that an eager test run
        # (and any process that records deliveries) resolves the name to the task.
        from . import events, tasks  # noqa: F401
