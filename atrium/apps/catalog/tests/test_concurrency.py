"""Concurrency on real, committed transactions: review stats stay exact, slugs stay unique."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from django.db import connection

from atrium.apps.catalog import services
from atrium.apps.catalog.models import Category, Product, Review
from atrium.platform.accounts.models import User
from atrium.tenants.context import tenant_scope


def run_together(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released at once; each has its own connection."""
    barrier = threading.Barrier(count)

    def runner(index: int):
        try:
            barrier.wait(timeout=30)
            return work(index)
        except Exception as exc:  # the caller inspects failures
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(runner, range(count)))


ROUNDS = 5  # several rounds, so a lost update cannot hide behind a lucky interleaving


def test_concurrent_reviews_keep_the_stats_exact(live_db, tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        authors = [User.objects.create_user(email=f"racer{i}@alpha.test") for i in range(12)]
        category = services.category_create(name="Race")
    ratings = [(i % 5) + 1 for i in range(12)]
    try:
        for round_number in range(ROUNDS):
            with tenant_scope(tenant_a):
                product = services.product_create(
                    owner=owner,
                    name="Contested",
                    sku=f"RACE-{round_number}",
                    price=Decimal(1),
                    category=category,
                )

            def write(index: int, product=product):
                with tenant_scope(tenant_a):
                    return services.review_create(
                        author=authors[index], product=product, rating=ratings[index], title="r"
                    )

            reviews = run_together(12, write)
            assert not [r for r in reviews if isinstance(r, Exception)], reviews
            with tenant_scope(tenant_a):
                product.refresh_from_db()
            mean = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"))
            assert (product.review_count, product.avg_rating) == (12, mean)

        # Then interleave updates, deletes and restores of the last round's reviews.

        def churn(index: int):
            with tenant_scope(tenant_a):
                review = Review.all_objects.get(pk=reviews[index].pk)
                if index % 3 == 0:
                    services.review_delete(review=review)
                elif index % 3 == 1:
                    services.review_update(review=review, rating=5)
                else:
                    services.review_delete(review=review)
                    services.review_restore(review=Review.all_objects.get(pk=review.pk))

        assert not [r for r in run_together(12, churn) if isinstance(r, Exception)]
        with tenant_scope(tenant_a):
            live = list(Review.objects.filter(product=product).values_list("rating", flat=True))
            product.refresh_from_db()
        assert product.review_count == len(live) == 8
        expected = (Decimal(sum(live)) / len(live)).quantize(Decimal("0.01"))
        assert product.avg_rating == expected
    finally:
        with tenant_scope(tenant_a):
            Review.all_objects.filter(product__category=category).hard_delete()
            Product.all_objects.filter(category=category).hard_delete()
            Category.all_objects.filter(pk=category.pk).hard_delete()
            User.objects.filter(email__startswith="racer").delete()


def test_concurrent_creates_get_unique_slugs(live_db, tenant_a):
    def create(index: int):
        with tenant_scope(tenant_a):
            return services.category_create(name="Same Name").slug

    try:
        slugs = run_together(8, create)
        assert not [s for s in slugs if isinstance(s, Exception)], slugs
        assert len(set(slugs)) == 8
        assert "same-name" in slugs
    finally:
        with tenant_scope(tenant_a):
            Category.all_objects.filter(name="Same Name").hard_delete()
