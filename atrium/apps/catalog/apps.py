"""App config for the catalog: its label, where its API is mounted, its periodic work."""

from celery.schedules import crontab
from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "atrium.apps.catalog"
    label = "catalog"
    default_auto_field = "django.db.models.BigAutoField"
    # Mounted at /api/v1/catalog/ by config/urls_tenant.py (atrium.platform.api.urls).
    api_prefix = "catalog/"
    # Nightly upkeep, run by beat once in each active tenant (atrium/platform/schedule.py).
    tenant_periodic_tasks = {
        "catalog.purge_deleted": crontab(hour=3, minute=37),
        "catalog.recompute_stats": crontab(hour=4, minute=7),
    }
    # The list routes under products/ (services.reserved_product_slugs), set in ready().
    reserved_product_slugs: frozenset[str] = frozenset()

    def ready(self) -> None:
        from . import events  # noqa: F401  (declares the catalog's events)
        from .views import ProductViewSet

        self.reserved_product_slugs = ProductViewSet.list_route_paths()

        from atrium.platform.privacy.registry import register
        from atrium.tenants.quotas import usage_counter

        from . import personal_data
        from .models import Product

        register(
            "reviews", collect=personal_data.collect_reviews, erase=personal_data.erase_reviews
        )
        register("products", collect=personal_data.collect_products)

        @usage_counter("products")
        def live_products() -> int:
            return Product.objects.count()  # soft-deleted ones are not counted
