"""App config for the audit log: its label and its nightly retention purge."""

from celery.schedules import crontab
from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "atrium.platform.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"
    # Run by beat once in each active tenant (atrium/platform/schedule.py).
    tenant_periodic_tasks = {"audit.purge_expired": crontab(hour=2, minute=47)}
