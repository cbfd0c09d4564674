"""Catalog reads: querysets with their final shape, and the FilterSet of the product list."""

import django_filters
from django.db.models import F, QuerySet, Window
from django.db.models.functions import Rank

from .models import Category, Product, ProductStatus, Review


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(
        method="filter_category", help_text="Category id (UUID) or slug."
    )
    status = django_filters.ChoiceFilter(choices=ProductStatus.choices)
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")
    in_stock = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_in_stock",
        help_text="true: stock > 0; false: out of stock.",
    )
    min_rating = django_filters.NumberFilter(
        field_name="avg_rating", lookup_expr="gte", help_text="Average rating at least (1-5)."
    )
    tags = django_filters.CharFilter(
        method="filter_tags", help_text="Comma-separated; products having all of them."
    )

    class Meta:
        model = Product
        fields = ["category", "status", "min_price", "max_price", "in_stock", "min_rating", "tags"]

    def filter_category(self, queryset, name, value):
        from uuid import UUID

        try:
            return queryset.filter(category_id=UUID(value))
        except ValueError:
            return queryset.filter(category__slug=value)

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(stock__gt=0) if value == "true" else queryset.filter(stock=0)

    def filter_tags(self, queryset, name, value):
        tags = [tag.strip().lower() for tag in value.split(",") if tag.strip()]
        return queryset.filter(tags__contains=tags) if tags else queryset


def category_list() -> QuerySet[Category]:
    return Category.objects.select_related("parent")


def product_list() -> QuerySet[Product]:
    """Products with their category (and its parent) and owner, in one query per page."""
    return Product.objects.select_related("category", "category__parent", "owner")


def product_deleted_list() -> QuerySet[Product]:
    return Product.all_objects.filter(is_deleted=True).select_related(
        "category", "category__parent", "owner"
    )


def product_top_rated(*, per_category: int = 3) -> QuerySet[Product]:
    """The best-rated active products of each category, ranked with a window function."""
    ranked = (
        product_list()
        .filter(status=ProductStatus.ACTIVE, avg_rating__isnull=False)
        .annotate(
            category_rank=Window(
                expression=Rank(),
                partition_by=[F("category_id")],
                order_by=[F("avg_rating").desc(), F("review_count").desc()],
            )
        )
    )
    return ranked.filter(category_rank__lte=per_category).order_by(
        "category__name", "category_rank", "name"
    )


def review_list(*, product: Product) -> QuerySet[Review]:
    return Review.objects.filter(product=product).select_related("author")


def review_all() -> QuerySet[Review]:
    return Review.objects.select_related("author", "product")
