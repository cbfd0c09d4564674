"""What the catalog holds about a person, and its erasure rule.

* reviews they wrote: kept with their rating, product and dates (the product's rating
  stats stay exact), their title and body emptied (free text may name or describe them);
* products they own: kept (the tenant's data), owned by the anonymised account.
"""

from __future__ import annotations

from .models import Product, Review


def collect_reviews(user) -> list[dict]:
    return [
        {
            "id": str(review.pk),
            "product_id": str(review.product_id),
            "rating": review.rating,
            "title": review.title,
            "body": review.body,
            "created_at": review.created_at.isoformat(),
            "deleted": review.is_deleted,
        }
        for review in Review.all_objects.filter(author=user).order_by("created_at")
    ]


def collect_products(user) -> list[dict]:
    return [
        {
            "id": str(product.pk),
            "name": product.name,
            "slug": product.slug,
            "sku": product.sku,
            "status": product.status,
            "created_at": product.created_at.isoformat(),
            "deleted": product.is_deleted,
        }
        for product in Product.all_objects.filter(owner=user).order_by("created_at")
    ]


def erase_reviews(user) -> dict[str, int]:
    return {"de_identified": Review.all_objects.filter(author=user).update(title="", body="")}
