"""Catalog tables of a tenant: categories, products and reviews (all soft-deletable)."""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from atrium.platform.models import BaseModel, SoftDeleteModel, live_unique


class Category(BaseModel, SoftDeleteModel):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True, default="")

    class Meta(SoftDeleteModel.Meta):
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [live_unique("slug", name="catalog_category_slug_live")]

    def __str__(self) -> str:
        return self.name


class ProductStatus(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class Product(BaseModel, SoftDeleteModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220)
    sku = models.CharField(max_length=64)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    stock = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=ProductStatus.choices, default=ProductStatus.DRAFT
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="products"
    )
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True, size=20)
    # Denormalised review stats, kept exact by the review services in the same transaction.
    review_count = models.PositiveIntegerField(default=0)
    avg_rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        ordering = ["-created_at"]
        constraints = [
            live_unique("slug", name="catalog_product_slug_live"),
            live_unique(name="catalog_product_sku_live_ci", expressions=[Lower("sku")]),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="product_price_gte_0"),
            models.CheckConstraint(
                condition=models.Q(status__in=ProductStatus.values), name="product_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(avg_rating__isnull=True)
                | models.Q(avg_rating__gte=1, avg_rating__lte=5),
                name="product_avg_rating_range",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="product_status_created"),
            models.Index(fields=["category", "status"], name="product_category_status"),
            models.Index(fields=["price"], name="product_price"),
            models.Index(fields=["-avg_rating"], name="product_avg_rating"),
            models.Index(fields=["-review_count"], name="product_review_count"),
            models.Index(fields=["name"], name="product_name"),
            GinIndex(fields=["tags"], name="product_tags_gin"),
        ]

    def __str__(self) -> str:
        return self.name


class Review(BaseModel, SoftDeleteModel):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")

    class Meta(SoftDeleteModel.Meta):
        ordering = ["-created_at"]
        constraints = [
            live_unique("product", "author", name="catalog_review_one_live_per_author"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_5"
            ),
        ]
        indexes = [models.Index(fields=["product", "-created_at"], name="review_product_created")]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title}"
