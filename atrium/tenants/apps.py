"""App config for the tenancy kernel."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "atrium.tenants"
    label = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import database, plans, signals  # noqa: F401  (signals: routing invalidation)

        plans.check_settings()
        database.install()
