"""The catalog in the tenant admin: soft-deleted rows stay visible and can be restored."""

import pytest
from django.test import Client

from atrium.apps.catalog import services
from atrium.apps.catalog.models import Category, Product
from atrium.platform.cache import namespace_version
from atrium.tenants.context import tenant_scope
from tests.fixtures import OWNER_PASSWORD


@pytest.fixture
def admin_client(tenant_a) -> Client:
    client = Client(HTTP_HOST="alpha.localhost")
    client.post("/admin/login/", {"username": "owner@alpha.test", "password": OWNER_PASSWORD})
    return client


@pytest.mark.django_db
def test_admin_lists_filters_and_restores_soft_deleted_products(
    tenant_a, alpha_users, alpha_catalog, admin_client
):
    anvil = alpha_catalog["products"]["anvil"]
    with tenant_scope(tenant_a):
        services.review_create(
            author=alpha_users["member"], product=anvil, rating=4, title="Heavy!"
        )
        services.product_delete(product=anvil)
    listing = admin_client.get("/admin/catalog/product/", {"is_deleted__exact": "1"})
    assert listing.status_code == 200
    assert b"Anvil" in listing.content and b"Rocket Skates" not in listing.content
    assert b"Giant Magnet" in admin_client.get("/admin/catalog/product/", {"q": "magnet"}).content
    change = admin_client.get(f"/admin/catalog/product/{anvil.pk}/change/")
    assert b"Heavy!" in change.content  # the inline reviews
    restored = admin_client.post(
        "/admin/catalog/product/",
        {"action": "restore_selected", "_selected_action": [str(anvil.pk)]},
        follow=True,
    )
    assert b"Restored 1 row(s)." in restored.content
    with tenant_scope(tenant_a):
        assert Product.objects.filter(pk=anvil.pk).exists()


@pytest.mark.django_db
def test_admin_edits_go_through_the_services(tenant_a, alpha_catalog, admin_client):
    magnet = alpha_catalog["products"]["magnet"]
    skates = alpha_catalog["products"]["skates"]
    response = admin_client.post(
        f"/admin/catalog/product/{magnet.pk}/change/",
        {
            "name": "Giant Magnet",
            "sku": skates.sku.lower(),  # taken by the skates, case-insensitively
            "description": "",
            "price": "80.00",
            "stock": "2",
            "status": "draft",
            "category": str(magnet.category_id),
            "tags": "heavy,fast",
            "reviews-TOTAL_FORMS": "0",
            "reviews-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert b"SKU exists already" in response.content
    with tenant_scope(tenant_a):
        assert Product.objects.get(pk=magnet.pk).sku == "GM-1"


def restore_categories(admin_client, *categories):
    return admin_client.post(
        "/admin/catalog/category/",
        {"action": "restore_selected", "_selected_action": [str(c.pk) for c in categories]},
        follow=True,
    )


@pytest.mark.django_db
def test_admin_restores_a_category_through_the_service(
    tenant_a, admin_client, django_capture_on_commit_callbacks
):
    """Like the product restore: the catalog's cached responses go stale on commit, and a
    restore the service refuses is a message on the list, not a server error."""
    with tenant_scope(tenant_a):
        shelf = services.category_create(name="Shelf")
        services.category_delete(category=shelf)
        version = namespace_version(services.CACHE_NAMESPACE)
    with django_capture_on_commit_callbacks(execute=True):
        restored = restore_categories(admin_client, shelf)
    assert b"Restored 1 row(s)." in restored.content
    with tenant_scope(tenant_a):
        assert Category.objects.filter(pk=shelf.pk).exists()
        assert namespace_version(services.CACHE_NAMESPACE) > version
        # A live category took the slug while this one was deleted: the restore is refused.
        services.category_delete(category=shelf)
        services.category_create(name="Shelf")
    refused = restore_categories(admin_client, shelf)
    assert refused.status_code == 200
    assert b"A live category has taken this slug since." in refused.content
    assert b"Restored 0 row(s)." in refused.content
    with tenant_scope(tenant_a):
        assert Category.all_objects.get(pk=shelf.pk).is_deleted
