"""App config for accounts."""

from celery.schedules import crontab
from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "atrium.platform.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    # Run by beat once in each active tenant (atrium/platform/schedule.py).
    tenant_periodic_tasks = {"accounts.flush_expired_tokens": crontab(hour=3, minute=17)}

    def ready(self) -> None:
        from atrium.tenants.quotas import usage_counter

        from . import events  # noqa: F401  (declares the user.* events)
        from .models import User

        @usage_counter("seats")
        def active_users() -> int:
            return User.objects.filter(is_active=True).count()
