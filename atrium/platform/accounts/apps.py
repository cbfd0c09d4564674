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
        from django.db.models.signals import post_delete, post_save

        from atrium.platform import cache
        from atrium.tenants.quotas import usage_counter
        from atrium.tenants.readahead import READERS

        from . import (
            audit,  # noqa: F401  (connects the sign-in audit receivers)
            events,  # noqa: F401  (declares the user.* events)
            usercache,
        )
        from .models import User

        # Read in routing's one MGET (atrium.tenants.readahead): the user of the request's
        # token (its entry is dropped on every change of the user) and its cached response.
        READERS.extend((usercache.read_ahead_keys, cache.read_ahead_keys))
        for signal in (post_save, post_delete):
            signal.connect(usercache.invalidate_on_change, sender=User, dispatch_uid="usercache")

        @usage_counter("seats")
        def active_users() -> int:
            return User.objects.filter(is_active=True).count()
