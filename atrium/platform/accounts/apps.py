"""App config for accounts."""

from celery.schedules import crontab
from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "atrium.platform.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
    # Run by beat once in each active tenant (atrium/platform/schedule.py).
    tenant_periodic_tasks = {"accounts.flush_expired_tokens": crontab(hour=3, minute=17)}
    # Run on a restored tenant by `tenants import`: the source's mailed tokens and sign-ins
    # are not credentials of the copy (its JWTs already fail: their key is the tenant id's).
    tenant_import_resets = (
        "DELETE FROM accounts_accounttoken",
        "UPDATE accounts_usersession SET revoked_at = now() WHERE revoked_at IS NULL",
    )

    def ready(self) -> None:
        from atrium.tenants.quotas import usage_counter

        from . import (
            audit,  # noqa: F401  (connects the sign-in audit receivers)
            events,  # noqa: F401  (declares the user.* events)
        )
        from .models import User

        @usage_counter("seats")
        def active_users() -> int:
            return User.objects.filter(is_active=True).count()
