"""Reviews (authorship, moderation, one live review per author, exact stats) and categories."""

import pytest

from atrium.apps.catalog import services
from atrium.apps.catalog.models import Product, Review
from atrium.tenants.context import tenant_scope
from tests.fixtures import client_for

PRODUCTS = "/api/v1/catalog/products/"
REVIEWS = "/api/v1/catalog/reviews/"
CATEGORIES = "/api/v1/catalog/categories/"


def codes(response) -> list[tuple[str, str | None]]:
    return [(error["code"], error["attr"]) for error in response.json()["errors"]]


def stats(tenant, product) -> tuple[int, str | None]:
    with tenant_scope(tenant):
        product = Product.all_objects.get(pk=product.pk)
    return product.review_count, None if product.avg_rating is None else str(product.avg_rating)


@pytest.mark.django_db
def test_review_lifecycle_keeps_stats_exact(tenant_a, alpha_users, alpha_catalog):
    anvil = alpha_catalog["products"]["anvil"]
    member, admin = client_for(alpha_users["member"]), client_for(alpha_users["admin"])
    created = member.post(f"{PRODUCTS}{anvil.pk}/reviews/", {"rating": 4, "title": "Heavy"})
    assert created.status_code == 201, created.json()
    assert created.json()["author"]["email"] == "member@alpha.test"
    review_id = created.json()["id"]
    admin.post(f"{PRODUCTS}{anvil.slug}/reviews/", {"rating": 1, "title": "Dropped it"})
    assert stats(tenant_a, anvil) == (2, "2.50")
    assert member.patch(f"{REVIEWS}{review_id}/", {"rating": 5}).status_code == 200
    assert stats(tenant_a, anvil) == (2, "3.00")
    listing = member.get(f"{PRODUCTS}{anvil.pk}/reviews/").json()
    assert listing["count"] == 2
    assert member.delete(f"{REVIEWS}{review_id}/").status_code == 204
    assert stats(tenant_a, anvil) == (1, "1.00")
    with tenant_scope(tenant_a):
        services.review_restore(review=Review.all_objects.get(pk=review_id))
    assert stats(tenant_a, anvil) == (2, "3.00")


@pytest.mark.django_db
def test_authors_edit_their_own_reviews_and_admins_moderate(alpha_users, alpha_catalog):
    skates = alpha_catalog["products"]["skates"]
    member = client_for(alpha_users["member"])
    review_id = member.post(f"{PRODUCTS}{skates.pk}/reviews/", {"rating": 3, "title": "ok"}).json()[
        "id"
    ]
    other = client_for(alpha_users["other_member"])
    assert other.patch(f"{REVIEWS}{review_id}/", {"title": "hacked"}).status_code == 403
    assert other.delete(f"{REVIEWS}{review_id}/").status_code == 403
    admin = client_for(alpha_users["admin"])
    assert admin.patch(f"{REVIEWS}{review_id}/", {"title": "moderated"}).status_code == 200
    assert admin.delete(f"{REVIEWS}{review_id}/").status_code == 204


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"rating": 0, "title": "x"}, ("min_value", "rating")),
        ({"rating": 6, "title": "x"}, ("max_value", "rating")),
        ({"rating": "five", "title": "x"}, ("invalid", "rating")),
        ({"rating": 3}, ("required", "title")),
        ({"rating": 3, "title": "x", "author": "someone"}, ("unknown_field", "author")),
        ({"rating": 3, "title": "x", "product": "other"}, ("unknown_field", "product")),
    ],
)
@pytest.mark.django_db
def test_bad_review_input(alpha_users, alpha_catalog, payload, expected):
    anvil = alpha_catalog["products"]["anvil"]
    response = client_for(alpha_users["member"]).post(
        f"{PRODUCTS}{anvil.pk}/reviews/", payload, format="json"
    )
    assert response.status_code == 400
    assert expected in codes(response)
    assert (
        client_for(alpha_users["member"]).get(f"{PRODUCTS}{anvil.pk}/reviews/").json()["count"] == 0
    )


@pytest.mark.django_db
def test_one_live_review_per_author_and_product(tenant_a, alpha_users, alpha_catalog):
    anvil = alpha_catalog["products"]["anvil"]
    member = client_for(alpha_users["member"])
    first = member.post(f"{PRODUCTS}{anvil.pk}/reviews/", {"rating": 2, "title": "a"})
    second = member.post(f"{PRODUCTS}{anvil.pk}/reviews/", {"rating": 5, "title": "b"})
    assert second.status_code == 400
    assert codes(second) == [("unique", "product")]
    assert stats(tenant_a, anvil) == (1, "2.00")
    # Once the first is deleted, a new live review is allowed; restoring the old one is not.
    member.delete(f"{REVIEWS}{first.json()['id']}/")
    assert (
        member.post(f"{PRODUCTS}{anvil.pk}/reviews/", {"rating": 5, "title": "c"}).status_code
        == 201
    )
    with tenant_scope(tenant_a), pytest.raises(services.Conflict):
        services.review_restore(review=Review.all_objects.get(pk=first.json()["id"]))


@pytest.mark.django_db
def test_stats_recompute_repairs_drift(tenant_a, alpha_users, alpha_catalog):
    anvil = alpha_catalog["products"]["anvil"]
    with tenant_scope(tenant_a):
        services.review_create(author=alpha_users["member"], product=anvil, rating=4, title="t")
        Product.all_objects.filter(pk=anvil.pk).update(review_count=99, avg_rating=1)
        assert services.product_stats_recompute() == 3
    assert stats(tenant_a, anvil) == (1, "4.00")


@pytest.mark.django_db
def test_categories_are_read_for_members_and_managed_by_admins(alpha_users, alpha_catalog):
    member, admin = client_for(alpha_users["member"]), client_for(alpha_users["admin"])
    assert [c["slug"] for c in member.get(CATEGORIES).json()["results"]] == ["garden", "tools"]
    assert member.post(CATEGORIES, {"name": "Nope"}).status_code == 403
    garden = alpha_catalog["categories"]["garden"]
    child = admin.post(CATEGORIES, {"name": "Lawn", "parent": str(garden.pk)})
    assert child.status_code == 201 and child.json()["parent"]["slug"] == "garden"
    # One level only: a child cannot become a parent.
    grandchild = admin.post(CATEGORIES, {"name": "Grass", "parent": child.json()["id"]})
    assert grandchild.status_code == 400 and codes(grandchild) == [("invalid", "parent")]
    # Renaming keeps the slug; a category with live products cannot be deleted.
    assert (
        admin.patch(f"{CATEGORIES}garden/", {"name": "Garden & Patio"}).json()["slug"] == "garden"
    )
    in_use = admin.delete(f"{CATEGORIES}{garden.pk}/")
    assert in_use.status_code == 409 and codes(in_use) == [("category_in_use", None)]
    assert admin.delete(f"{CATEGORIES}{child.json()['id']}/").status_code == 204
    assert member.get(f"{CATEGORIES}lawn/").status_code == 404
    # The slug of a deleted category is free again.
    assert admin.post(CATEGORIES, {"name": "Lawn"}).json()["slug"] == "lawn"


@pytest.mark.django_db
def test_any_number_of_categories_of_one_name_get_their_own_slug(alpha_users):
    client = client_for(alpha_users["admin"])
    created = [client.post(CATEGORIES, {"name": "Garden"}, format="json") for _ in range(25)]
    assert [response.status_code for response in created] == [201] * 25
    slugs = [response.json()["slug"] for response in created]
    assert slugs[:2] == ["garden", "garden-2"] and len(set(slugs)) == 25


@pytest.mark.django_db
def test_text_fields_take_text_not_numbers(alpha_users, alpha_catalog):
    client = client_for(alpha_users["admin"])
    response = client.post(CATEGORIES, {"name": 5, "description": True}, format="json")
    assert response.status_code == 400
    assert sorted(codes(response)) == [("invalid", "description"), ("invalid", "name")]
    product = {"name": "Anvil 2", "sku": "AN-2", "price": "1.00", "tags": ["ok", 7]}
    product["category"] = str(alpha_catalog["categories"]["tools"].pk)
    assert codes(client.post(PRODUCTS, product, format="json")) == [("invalid", "tags")]
