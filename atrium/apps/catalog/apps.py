"""App config for the catalog."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "atrium.apps.catalog"
    label = "catalog"
    default_auto_field = "django.db.models.BigAutoField"
