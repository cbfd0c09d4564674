"""App config for the catalog: its label, and where its API is mounted."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "atrium.apps.catalog"
    label = "catalog"
    default_auto_field = "django.db.models.BigAutoField"
    # Mounted at /api/v1/catalog/ by config/urls_tenant.py (atrium.platform.api.urls).
    api_prefix = "catalog/"
