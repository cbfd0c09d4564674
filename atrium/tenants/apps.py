"""App config for the tenancy kernel."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "atrium.tenants"
    label = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # signals: routing invalidation; cors: the per-tenant origin check.
        from . import cors, database, deletion, plans, quotas, signals  # noqa: F401

        plans.check_settings()
        database.install()
        deletion.install()
