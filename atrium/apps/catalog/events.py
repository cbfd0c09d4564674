"""Catalog events for the tenant's WebSocket clients, sent after commit."""

from typing import Any

from atrium.platform.realtime.events import publish_to_tenant

from .models import Product, Review


def _payload(instance: Any) -> dict[str, Any]:
    if isinstance(instance, Product):
        return {
            "name": instance.name,
            "slug": instance.slug,
            "sku": instance.sku,
            "price": str(instance.price),
            "status": instance.status,
        }
    if isinstance(instance, Review):
        return {"product_id": str(instance.product_id), "rating": instance.rating}
    return {}


def publish_catalog_event(event_type: str, instance: Any, **extra: Any) -> None:
    publish_to_tenant(event_type, id=str(instance.pk), data=_payload(instance) | extra)
