"""Catalog events: declared here (imported by CatalogConfig.ready()), published after commit
by the catalog services through ``atrium.platform.events.publish``."""

from __future__ import annotations

from typing import Any

from atrium.platform.events import declare, publish

from .models import Product, ProductStatus, Review

UUID = {"type": "string", "format": "uuid"}
PRODUCT_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string"},
    "slug": {"type": "string"},
    "sku": {"type": "string"},
    "price": {"type": "string", "pattern": r"^\d+(\.\d+)?$", "description": "A decimal."},
    "status": {"type": "string", "enum": list(ProductStatus.values)},
    "category_id": UUID,
}


def _product_schema(**extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**PRODUCT_PROPERTIES, **extra},
        "required": [*PRODUCT_PROPERTIES, *extra],
        "additionalProperties": False,
    }


declare(
    "product.created",
    schema=_product_schema(),
    description="A product was created (by the API, the admin or an import).",
)
declare(
    "product.updated",
    schema=_product_schema(
        fields={
            "type": "array",
            "items": {"type": "string"},
            "description": "The fields the update wrote.",
        }
    ),
    description="A product was changed; `fields` names what the update wrote.",
)
declare(
    "product.deleted",
    schema=_product_schema(),
    description="A product was deleted (soft: it can be restored until it is purged).",
)
declare(
    "product.restored",
    schema=_product_schema(),
    description="A deleted product was restored.",
)
declare(
    "review.created",
    schema={
        "type": "object",
        "properties": {
            "product_id": UUID,
            "author_id": UUID,
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "title": {"type": "string"},
        },
        "required": ["product_id", "author_id", "rating", "title"],
        "additionalProperties": False,
    },
    description="A review of a product was written.",
)


def _payload(instance: Product | Review) -> dict[str, Any]:
    if isinstance(instance, Product):
        return {
            "name": instance.name,
            "slug": instance.slug,
            "sku": instance.sku,
            "price": format(instance.price, "f"),  # never exponent notation (1E+1)
            "status": instance.status,
            "category_id": str(instance.category_id),
        }
    return {
        "product_id": str(instance.product_id),
        "author_id": str(instance.author_id),
        "rating": instance.rating,
        "title": instance.title,
    }


def publish_catalog_event(event_type: str, instance: Product | Review, **extra: Any) -> None:
    """Publish ``event_type`` about ``instance`` once the current transaction commits."""
    publish(event_type, id=str(instance.pk), data=_payload(instance) | extra)
