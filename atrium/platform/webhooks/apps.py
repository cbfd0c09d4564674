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
    # Run on a restored tenant by `tenants import`: the source's signing secrets are not the
    # copy's. Each endpoint gets a new random secret (PostgreSQL's CSPRNG, 32 bytes) that
    # nobody knows and is disabled, so nothing is signed in the source's name; an admin
    # calls rotate-secret/ for a secret to give the receiver, then enables it. Deliveries
    # that were pending are closed: the copy does not replay the source's traffic.
    tenant_import_resets = (
        "UPDATE webhooks_webhookendpoint SET "
        "secret = 'whsec_' || encode(decode(replace("
        "gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64'), "
        "previous_secret = '', previous_secret_expires_at = NULL, enabled = false, "
        "disabled_at = now(), disabled_reason = 'Restored from an archive: rotate the "
        "secret (rotate-secret/), then enable the endpoint.'",
        "UPDATE webhooks_webhookdelivery SET status = 'failed', next_attempt_at = NULL "
        "WHERE status = 'pending'",
    )

    def ready(self) -> None:
        # The drain is sent by name (kicks.py); registered here so that an eager test run
        # (and any process that records deliveries) resolves the name to the task.
        from . import events, tasks  # noqa: F401
