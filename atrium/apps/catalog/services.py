"""Catalog writes: categories, products and reviews.

Every write validates, saves, and after commit invalidates the catalog's cached responses
and publishes its event. Review stats on the product are recomputed in the same
transaction, with the product row locked first: a concurrent review waits for the lock
and then aggregates from a snapshot that includes the first one's commit, so the stats
stay exact under any interleaving.

A live product counts against the plan's product quota: creating (an import's rows too)
or restoring one past it is refused with 403 ``quota_exceeded`` (``atrium.tenants.quotas``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from atrium.errors import AtriumError, Conflict, InvalidInput
from atrium.platform.accounts.models import User
from atrium.platform.audit.services import audit_record, changes_between, snapshot
from atrium.platform.cache import invalidate_namespace
from atrium.platform.models import save_with_unique_slug
from atrium.tenants.quotas import quota_check, quota_take

from .models import Category, Product, ProductStatus, Review

CACHE_NAMESPACE = "catalog"
MAX_TAGS = 20


def reserved_product_slugs() -> frozenset[str]:
    """The list routes under products/ (``top-rated``, …): a product with one of them as its
    slug could not be reached by that slug. Read from the routes themselves, so adding a
    route is one edit; the app config reads them when Django starts (the views import
    this module, so it cannot import them)."""
    return django_apps.get_app_config("catalog").reserved_product_slugs


def _catalog_changed(event_type: str | None = None, instance: Any = None, **data: Any) -> None:
    invalidate_namespace(CACHE_NAMESPACE)
    if event_type is not None:
        from .events import publish_catalog_event

        publish_catalog_event(event_type, instance, **data)


def _audit(action: str, instance: Any, before: dict[str, Any] | None = None) -> None:
    """The audit entry of a catalog write, in its transaction; ``before``: the changed
    fields' values before an update (``snapshot``), recorded with their new values."""
    changes = None
    if before is not None:
        changes = changes_between(before, snapshot(instance, before.keys()))
    audit_record(action, target=instance, changes=changes)


def _clean(instance, *, exclude: Iterable[str] = ()) -> None:
    try:
        instance.full_clean(exclude=[*exclude], validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(messages[0], code="invalid", field=field) from None


def _integrity(exc: IntegrityError) -> AtriumError:
    text = str(exc)
    if "sku" in text:
        return _sku_taken()
    if "one_live_per_author" in text:
        return InvalidInput(
            "You have already reviewed this product.", code="unique", field="product"
        )
    if "slug" in text:
        return Conflict("The slug is taken by a live row.", code="slug_taken")
    raise exc


@contextmanager
def _unique_conflicts() -> Iterator[None]:
    """Runs a save in a savepoint, so that a unique constraint it breaks (a race the checks
    before it lost) becomes the domain error and the transaction stays usable."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise _integrity(exc) from exc


def _restore(instance: Category | Product, check: Callable[[], None]) -> None:
    """Restores a soft-deleted category or product: refused (409) when it is not deleted,
    when ``check`` refuses, or when a live row has taken its slug since."""
    name = instance._meta.verbose_name
    if not instance.is_deleted:
        raise Conflict(f"This {name} is not deleted.", code="not_deleted")
    check()
    if type(instance).objects.filter(slug=instance.slug).exists():
        raise Conflict(f"A live {name} has taken this slug since.", code="slug_taken")
    with _unique_conflicts():
        instance.restore()


# ---------------------------------------------------------------------------- categories


def _check_parent(parent: Category | None, category: Category | None = None) -> None:
    if parent is None:
        return
    if parent.is_deleted:
        raise InvalidInput("That category is deleted.", code="does_not_exist", field="parent")
    if parent.parent_id is not None:
        raise InvalidInput(
            "Categories nest one level deep: the parent must be a top-level category.",
            code="invalid",
            field="parent",
        )
    if category is not None and (parent.pk == category.pk or category.children.exists()):
        raise InvalidInput(
            "A category with children, or the category itself, cannot become a child.",
            code="invalid",
            field="parent",
        )


@transaction.atomic
def category_create(
    *, name: str, description: str = "", parent: Category | None = None
) -> Category:
    _check_parent(parent)
    category = Category(name=name, description=description, parent=parent)
    _clean(category, exclude=["slug"])
    save_with_unique_slug(category, name)
    _audit("category.created", category)
    _catalog_changed()
    return category


@transaction.atomic
def category_update(*, category: Category, **changes: Any) -> Category:
    if "parent" in changes:
        _check_parent(changes["parent"], category)
    before = snapshot(category, changes)
    for field, value in changes.items():
        setattr(category, field, value)
    _clean(category)
    category.save()
    _audit("category.updated", category, before)
    _catalog_changed()
    return category


@transaction.atomic
def category_delete(*, category: Category) -> None:
    if category.products.exists() or category.children.exists():
        raise Conflict(
            "This category still has live products or subcategories: move or delete them first.",
            code="category_in_use",
        )
    category.delete()
    _audit("category.deleted", category)
    _catalog_changed()


@transaction.atomic
def category_restore(*, category: Category) -> Category:
    # A deleted parent is restored first.
    _restore(category, lambda: _check_parent(category.parent, category))
    _audit("category.restored", category)
    _catalog_changed()
    return category


# ---------------------------------------------------------------------------- products


def _check_category(category: Category | None) -> None:
    if category is None or category.is_deleted:
        raise InvalidInput("Choose a live category.", code="does_not_exist", field="category")


def _normalise_tags(tags: Iterable[str] | None) -> list[str]:
    cleaned = sorted({tag.strip().lower() for tag in tags or [] if tag and tag.strip()})
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags.", code="max_length", field="tags")
    return cleaned


def _check_sku_free(sku: str, *, exclude_pk=None) -> None:
    clash = Product.objects.filter(sku__iexact=sku)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise _sku_taken()


def _sku_taken() -> Conflict:
    # A conflict with a live row, like a taken e-mail (409 email_taken) or slug: 409.
    return Conflict(
        "A live product with this SKU exists already (SKUs are compared case-insensitively): "
        "choose another SKU, or change that product.",
        code="sku_taken",
    )


def product_check(
    *,
    sku: str | None = None,
    category: Category | None = None,
    tags: Iterable[str] | None = None,
    product: Product | None = None,
) -> None:
    """Raise the domain error a create or change with these values would meet (used by the
    admin to show it on the form)."""
    if category is not None or product is None:
        _check_category(category)
    if product is None:
        quota_check("products")  # a new product: the form's early answer
    if sku is not None:
        _check_sku_free(sku.strip(), exclude_pk=product.pk if product else None)
    if tags is not None:
        _normalise_tags(tags)


@transaction.atomic
def product_create(
    *,
    owner: User,
    name: str,
    sku: str,
    price: Decimal,
    category: Category,
    stock: int = 0,
    status: str = ProductStatus.DRAFT,
    description: str = "",
    tags: Iterable[str] | None = None,
) -> Product:
    _check_category(category)
    sku = sku.strip()
    _check_sku_free(sku)
    quota_take("products")
    product = Product(
        owner=owner,
        name=name,
        sku=sku,
        price=price,
        stock=stock,
        status=status,
        category=category,
        description=description,
        tags=_normalise_tags(tags),
    )
    _clean(product, exclude=["slug"])
    try:
        save_with_unique_slug(product, name, reserved=reserved_product_slugs())
    except IntegrityError as exc:
        raise _integrity(exc) from exc
    _audit("product.created", product)
    _catalog_changed("product.created", product)
    return product


PRODUCT_EDITABLE = {"name", "sku", "price", "stock", "status", "category", "description", "tags"}


@transaction.atomic
def product_update(*, product: Product, **changes: Any) -> Product:
    unknown = set(changes) - PRODUCT_EDITABLE
    if unknown:
        raise InvalidInput(f"Not editable: {', '.join(sorted(unknown))}.", code="invalid")
    if "category" in changes:
        _check_category(changes["category"])
    if "sku" in changes:
        changes["sku"] = changes["sku"].strip()
        _check_sku_free(changes["sku"], exclude_pk=product.pk)
    if "tags" in changes:
        changes["tags"] = _normalise_tags(changes["tags"])
    before = snapshot(product, changes)
    for field, value in changes.items():
        setattr(product, field, value)  # the slug stays: links survive a rename
    _clean(product)
    with _unique_conflicts():
        product.save()
    _audit("product.updated", product, before)
    _catalog_changed("product.updated", product, fields=sorted(changes))
    return product


@transaction.atomic
def product_delete(*, product: Product) -> None:
    product.delete()
    _audit("product.deleted", product)
    _catalog_changed("product.deleted", product)


@transaction.atomic
def product_restore(*, product: Product) -> Product:
    def sku_free_and_within_quota() -> None:
        if Product.objects.filter(sku__iexact=product.sku).exists():
            raise Conflict(
                "A live product has taken this SKU since; change that product's SKU first.",
                code="sku_taken",
            )
        quota_take("products")  # a restored product counts again

    _restore(product, sku_free_and_within_quota)
    _audit("product.restored", product)
    _catalog_changed("product.restored", product)
    return product


# ---------------------------------------------------------------------------- reviews


def _lock_product(product_id) -> Product:
    return Product.all_objects.select_for_update().get(pk=product_id)


def _refresh_stats(product_ids: Iterable) -> None:
    """Recompute review_count and avg_rating from the live reviews, in one UPDATE."""
    live = Review.objects.filter(product_id=OuterRef("pk")).values("product_id")
    Product.all_objects.filter(pk__in=list(product_ids)).update(
        review_count=Coalesce(Subquery(live.annotate(n=Count("pk")).values("n")[:1]), Value(0)),
        avg_rating=Subquery(live.annotate(a=Avg("rating")).values("a")[:1]),
    )


@transaction.atomic
def review_create(
    *, author: User, product: Product, rating: int, title: str, body: str = ""
) -> Review:
    product = _lock_product(product.pk)
    if product.is_deleted:
        raise InvalidInput("That product is deleted.", code="does_not_exist", field="product")
    if Review.objects.filter(product=product, author=author).exists():
        raise InvalidInput(
            "You have already reviewed this product.", code="unique", field="product"
        )
    review = Review(author=author, product=product, rating=rating, title=title, body=body)
    _clean(review)
    with _unique_conflicts():
        review.save()
    _audit("review.created", review)
    _refresh_stats([product.pk])
    _catalog_changed("review.created", review)
    return review


@transaction.atomic
def review_update(*, review: Review, **changes: Any) -> Review:
    unknown = set(changes) - {"rating", "title", "body"}
    if unknown:
        raise InvalidInput(f"Not editable: {', '.join(sorted(unknown))}.", code="invalid")
    _lock_product(review.product_id)
    before = snapshot(review, changes)
    for field, value in changes.items():
        setattr(review, field, value)
    _clean(review)
    review.save()
    _audit("review.updated", review, before)
    _refresh_stats([review.product_id])
    _catalog_changed()
    return review


@transaction.atomic
def review_delete(*, review: Review) -> None:
    _lock_product(review.product_id)
    review.delete()
    _audit("review.deleted", review)
    _refresh_stats([review.product_id])
    _catalog_changed()


@transaction.atomic
def review_restore(*, review: Review) -> Review:
    _lock_product(review.product_id)
    if not review.is_deleted:
        raise Conflict("This review is not deleted.", code="not_deleted")
    if Review.objects.filter(product_id=review.product_id, author_id=review.author_id).exists():
        raise Conflict("The author has a live review of this product.", code="review_exists")
    review.restore()
    _audit("review.restored", review)
    _refresh_stats([review.product_id])
    _catalog_changed()
    return review


def product_stats_recompute(*, product_ids: Iterable | None = None, batch_size: int = 500) -> int:
    """Repair the denormalised stats (all products, or some); returns how many were done."""
    ids = (
        list(product_ids)
        if product_ids is not None
        else list(Product.all_objects.values_list("pk", flat=True))
    )
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            batch = ids[start : start + batch_size]
            list(Product.all_objects.select_for_update().filter(pk__in=batch).values_list("pk"))
            _refresh_stats(batch)
    if ids:
        with transaction.atomic():
            _catalog_changed()
    return len(ids)
