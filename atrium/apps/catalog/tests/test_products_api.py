"""The products API: filters, search, ordering, permissions, soft delete, bad input, cache."""

import re
from decimal import Decimal

import pytest
import yaml
from django.urls import get_resolver
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from atrium.apps.catalog import services
from atrium.apps.catalog.models import Product
from atrium.platform.accounts.models import User
from atrium.tenants.context import tenant_scope
from tests.fixtures import client_for

URL = "/api/v1/catalog/products/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [product["name"] for product in response.json()["results"]]


def codes(response) -> list[tuple[str, str | None]]:
    return [(error["code"], error["attr"]) for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["Giant Magnet", "Anvil", "Rocket Skates"]),
        ({"status": "draft"}, ["Giant Magnet"]),
        ({"category": "garden"}, ["Rocket Skates"]),
        ({"min_price": "50", "max_price": "100"}, ["Giant Magnet"]),
        ({"in_stock": "true"}, ["Giant Magnet", "Rocket Skates"]),
        ({"in_stock": "false"}, ["Anvil"]),
        ({"tags": "heavy"}, ["Giant Magnet", "Anvil"]),
        ({"tags": "heavy,fast"}, ["Giant Magnet"]),
        ({"q": "wheels"}, ["Rocket Skates"]),
        ({"q": "an-1"}, ["Anvil"]),
        ({"q": "magnet"}, ["Giant Magnet"]),
        ({"ordering": "price"}, ["Anvil", "Giant Magnet", "Rocket Skates"]),
        ({"ordering": "-price"}, ["Rocket Skates", "Giant Magnet", "Anvil"]),
        ({"ordering": "name"}, ["Anvil", "Giant Magnet", "Rocket Skates"]),
        ({"ordering": "created_at"}, ["Rocket Skates", "Anvil", "Giant Magnet"]),
    ],
)
@pytest.mark.django_db
def test_filters_search_and_ordering(alpha_users, alpha_catalog, params, expected):
    assert names(client_for(alpha_users["member"]).get(URL, params)) == expected


@pytest.mark.django_db
def test_category_filter_takes_an_id_too(alpha_users, alpha_catalog):
    tools = alpha_catalog["categories"]["tools"]
    response = client_for(alpha_users["member"]).get(URL, {"category": str(tools.pk)})
    assert sorted(names(response)) == ["Anvil", "Giant Magnet"]


@pytest.mark.django_db
def test_rating_filter_and_orderings_follow_reviews(tenant_a, alpha_users, alpha_catalog):
    products = alpha_catalog["products"]
    with tenant_scope(tenant_a):
        services.review_create(
            author=alpha_users["member"], product=products["anvil"], rating=5, title="a"
        )
        services.review_create(
            author=alpha_users["admin"], product=products["anvil"], rating=4, title="b"
        )
        services.review_create(
            author=alpha_users["member"], product=products["skates"], rating=2, title="c"
        )
    client = client_for(alpha_users["member"])
    assert names(client.get(URL, {"min_rating": "4"})) == ["Anvil"]
    assert names(client.get(URL, {"ordering": "-avg_rating"}))[:2] == ["Anvil", "Rocket Skates"]
    assert names(client.get(URL, {"ordering": "-review_count"}))[0] == "Anvil"
    anvil = client.get(f"{URL}{products['anvil'].pk}/").json()
    assert (anvil["review_count"], anvil["avg_rating"]) == (2, "4.50")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"ordering": "owner"}, "invalid_ordering"),
        ({"status": "gone"}, "invalid_choice"),
        ({"min_price": "cheap"}, "invalid"),
        ({"in_stock": "maybe"}, "invalid_choice"),
        ({"min_rating": "five"}, "invalid"),
        ({"page_size": "0"}, "invalid"),
        ({"page_size": "ten"}, "invalid"),
    ],
)
@pytest.mark.django_db
def test_garbage_filters_are_400_never_500(alpha_users, alpha_catalog, params, code):
    response = client_for(alpha_users["member"]).get(URL, params)
    assert response.status_code in (200, 400)
    if code:
        assert response.status_code == 400
        assert code in [c for c, _ in codes(response)]


@pytest.mark.django_db
def test_detail_by_id_or_slug_with_nested_category_and_owner(alpha_users, alpha_catalog):
    skates = alpha_catalog["products"]["skates"]
    client = client_for(alpha_users["member"])
    by_id = client.get(f"{URL}{skates.pk}/").json()
    by_slug = client.get(f"{URL}rocket-skates/").json()
    assert by_id == by_slug
    assert by_id["category"] == {
        "id": str(skates.category_id),
        "name": "Garden",
        "slug": "garden",
    }
    assert by_id["owner"]["email"] == "owner@alpha.test"
    assert client.get(f"{URL}no-such-product/").status_code == 404


@pytest.mark.django_db
def test_member_creates_and_owns_but_cannot_touch_others(tenant_a, alpha_users, alpha_catalog):
    member = client_for(alpha_users["member"])
    garden = alpha_catalog["categories"]["garden"]
    created = member.post(
        URL, {"name": "Bird Seed", "sku": "bs-1", "price": "3.10", "category": str(garden.pk)}
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["owner"]["email"], body["category"]["slug"], body["slug"]) == (
        "member@alpha.test",
        "garden",
        "bird-seed",
    )
    mine = body["id"]
    assert member.patch(f"{URL}{mine}/", {"price": "4.00"}).json()["price"] == "4.00"
    anvil = alpha_catalog["products"]["anvil"]
    assert member.patch(f"{URL}{anvil.pk}/", {"price": "1.00"}).status_code == 403
    assert member.delete(f"{URL}{anvil.pk}/").status_code == 403
    # Another member cannot change the first member's product; an admin can.
    other = client_for(alpha_users["other_member"])
    assert other.patch(f"{URL}{mine}/", {"price": "0.01"}).status_code == 403
    admin = client_for(alpha_users["admin"])
    assert admin.patch(f"{URL}{mine}/", {"stock": 7}).json()["stock"] == 7


@pytest.mark.django_db
def test_renaming_keeps_the_slug(alpha_users, alpha_catalog):
    skates = alpha_catalog["products"]["skates"]
    client = client_for(alpha_users["owner"])
    renamed = client.patch(f"{URL}{skates.pk}/", {"name": "Rocket Skates 2000"}).json()
    assert (renamed["name"], renamed["slug"]) == ("Rocket Skates 2000", "rocket-skates")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"price": "-1"}, ("min_value", "price")),
        ({"stock": -3}, ("min_value", "stock")),
        ({"category": "not-a-uuid"}, ("invalid", "category")),
        ({"category": "00000000-0000-0000-0000-000000000000"}, ("does_not_exist", "category")),
        ({"owner": "someone"}, ("unknown_field", "owner")),
        ({"review_count": 99}, ("unknown_field", "review_count")),
        ({"id": "00000000-0000-0000-0000-000000000000"}, ("unknown_field", "id")),
        ({"status": "sold"}, ("invalid_choice", "status")),
        ({"name": ""}, ("blank", "name")),
        ({"tags": ["x"] * 21}, ("max_length", "tags")),
    ],
)
@pytest.mark.django_db
def test_bad_product_input_is_400_naming_the_field(alpha_users, alpha_catalog, payload, expected):
    garden = alpha_catalog["categories"]["garden"]
    body = {"name": "New", "sku": "NEW-1", "price": "1.00", "category": str(garden.pk), **payload}
    client = client_for(alpha_users["owner"])
    response = client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert expected in codes(response)
    assert names(client.get(URL, {"q": "new"})) == []


@pytest.mark.django_db
def test_deleted_and_foreign_categories_are_refused(tenant_a, tenant_b, alpha_users, alpha_catalog):
    with tenant_scope(tenant_b):
        foreign = services.category_create(name="Beta things")
    with tenant_scope(tenant_a):
        doomed = services.category_create(name="Doomed")
        services.category_delete(category=doomed)
    client = client_for(alpha_users["owner"])
    for category in (foreign, doomed):
        response = client.post(
            URL, {"name": "X", "sku": "X-1", "price": "1", "category": str(category.pk)}
        )
        assert response.status_code == 400
        assert ("does_not_exist", "category") in codes(response)


@pytest.mark.django_db
def test_soft_delete_restore_and_unique_ignores_deleted(
    tenant_a, alpha_users, alpha_catalog, django_capture_on_commit_callbacks
):
    client = client_for(alpha_users["owner"])
    anvil = alpha_catalog["products"]["anvil"]
    names(client.get(URL))  # cached now: the writes below must refresh it
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{URL}{anvil.pk}/").status_code == 204
    assert client.get(f"{URL}{anvil.pk}/").status_code == 404
    assert "Anvil" not in names(client.get(URL))
    with tenant_scope(tenant_a):
        assert Product.all_objects.get(pk=anvil.pk).is_deleted  # still there, soft-deleted
    # The SKU and slug are free again for a live product...
    tools = alpha_catalog["categories"]["tools"]
    again = client.post(
        URL, {"name": "Anvil", "sku": "an-1", "price": "9", "category": str(tools.pk)}
    )
    assert again.status_code == 201
    assert again.json()["slug"] == "anvil"
    # ...so restoring the old one now conflicts, until the new one goes.
    conflict = client.post(f"{URL}{anvil.pk}/restore/")
    assert conflict.status_code == 409
    assert codes(conflict) == [("sku_taken", None)]
    assert client.delete(f"{URL}{again.json()['id']}/").status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        restored = client.post(f"{URL}{anvil.pk}/restore/")
    assert restored.status_code == 200 and restored.json()["name"] == "Anvil"
    assert "Anvil" in names(client.get(URL))


@pytest.mark.django_db
def test_only_admins_restore(alpha_users, alpha_catalog):
    magnet = alpha_catalog["products"]["magnet"]
    member = client_for(alpha_users["member"])
    assert member.delete(f"{URL}{magnet.pk}/").status_code == 204  # their own
    assert member.post(f"{URL}{magnet.pk}/restore/").status_code == 403
    assert client_for(alpha_users["admin"]).post(f"{URL}{magnet.pk}/restore/").status_code == 200


@pytest.mark.django_db
def test_top_rated_ranks_within_each_category(tenant_a, alpha_users, alpha_catalog):
    products = alpha_catalog["products"]
    tools = alpha_catalog["categories"]["tools"]
    with tenant_scope(tenant_a):
        extra = [
            services.product_create(
                owner=alpha_users["owner"],
                name=f"Tool {i}",
                sku=f"T-{i}",
                price=Decimal(1),
                status="active",
                category=tools,
            )
            for i in range(4)
        ]
        for rating, product in zip([5, 4, 3, 2, 1], [*extra, products["anvil"]], strict=True):
            services.review_create(
                author=alpha_users["member"], product=product, rating=rating, title="t"
            )
        services.review_create(
            author=alpha_users["member"], product=products["skates"], rating=3, title="t"
        )
    results = client_for(alpha_users["member"]).get(URL + "top-rated/").json()["results"]
    ranked = [(p["category"]["slug"], p["name"]) for p in results]
    assert ranked == [
        ("garden", "Rocket Skates"),
        ("tools", "Tool 0"),
        ("tools", "Tool 1"),
        ("tools", "Tool 2"),
    ]


@pytest.mark.parametrize("page_size", [5, 50])
@pytest.mark.django_db
def test_list_queries_do_not_grow_with_the_page(
    tenant_a, alpha_users, alpha_catalog, page_size, django_assert_num_queries
):
    garden = alpha_catalog["categories"]["garden"]
    with tenant_scope(tenant_a):
        sub = services.category_create(name="Sub", parent=garden)
        for i in range(60):
            product = services.product_create(
                owner=alpha_users["member" if i % 2 else "admin"],
                name=f"P{i}",
                sku=f"P-{i}",
                price=Decimal(i),
                status="active",
                category=sub if i % 3 else garden,
                tags=["t"],
            )
            if i % 4 == 0:
                services.review_create(
                    author=alpha_users["owner"], product=product, rating=4, title="r"
                )
    client = client_for(alpha_users["member"])
    client.get("/api/v1/users/me/")  # warms host routing
    # search_path, the count and the page (products + category + parent + owner, joined).
    with django_assert_num_queries(3):
        response = client.get(URL, {"page_size": page_size, "ordering": "name"})
    assert len(response.json()["results"]) == page_size
    assert response["X-Cache"] == "miss"


@pytest.mark.django_db
def test_cached_list_is_fresh_after_any_write(
    tenant_a, alpha_users, alpha_catalog, django_capture_on_commit_callbacks
):
    client = client_for(alpha_users["owner"])
    first = client.get(URL)
    assert first["X-Cache"] == "miss"
    again = client.get(URL)
    assert again["X-Cache"] == "hit" and again.json() == first.json()
    anvil = alpha_catalog["products"]["anvil"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.patch(f"{URL}{anvil.pk}/", {"price": "1.00"}).status_code == 200
    fresh = client.get(URL)
    assert fresh["X-Cache"] == "miss"
    assert {p["name"]: p["price"] for p in fresh.json()["results"]}["Anvil"] == "1.00"
    detail = client.get(f"{URL}{anvil.pk}/")
    assert detail.json()["price"] == "1.00"
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant_a):
        services.review_create(author=alpha_users["member"], product=anvil, rating=5, title="x")
    assert client.get(f"{URL}{anvil.pk}/").json()["review_count"] == 1


@pytest.mark.django_db
def test_tenant_b_never_sees_a_cached_page_of_a(tenant_a, tenant_b, alpha_users, alpha_catalog):
    alpha = client_for(alpha_users["owner"])
    assert alpha.get(URL)["X-Cache"] in ("miss", "hit")
    assert alpha.get(URL)["X-Cache"] == "hit"
    with tenant_scope(tenant_b):
        beta_owner = User.objects.get(email="owner@beta.test")
    beta = client_for(beta_owner, host="beta.localhost")
    response = beta.get(URL)  # the very same path and query
    assert response["X-Cache"] == "miss"
    assert response.json()["results"] == []
    keys = [key.decode() for key in get_redis_connection("default").keys("*resp:catalog*")]
    assert keys and all(key.startswith(("t:alpha:cache:", "t:beta:cache:")) for key in keys)


@pytest.mark.django_db
def test_a_product_of_alpha_is_invisible_on_beta(tenant_b, alpha_users, alpha_catalog):
    skates = alpha_catalog["products"]["skates"]
    with tenant_scope(tenant_b):
        beta_owner = User.objects.get(email="owner@beta.test")
    beta = client_for(beta_owner, host="beta.localhost")
    assert names(beta.get(URL)) == []
    assert beta.get(f"{URL}{skates.pk}/").status_code == 404
    assert beta.get(f"{URL}{skates.slug}/").status_code == 404
    assert beta.patch(f"{URL}{skates.pk}/", {"price": "0"}).status_code == 404
    assert beta.delete(f"{URL}{skates.pk}/").status_code == 404
    assert beta.post(f"{URL}{skates.pk}/restore/").status_code == 404
    assert beta.get(f"{URL}{skates.pk}/reviews/").status_code == 404


@pytest.mark.django_db
def test_anonymous_is_refused(alpha_catalog):
    assert APIClient(HTTP_HOST="alpha.localhost").get(URL).status_code == 401


@pytest.mark.django_db
def test_a_product_named_like_a_list_route_is_still_reachable_by_its_slug(
    alpha_users, alpha_catalog
):
    client = client_for(alpha_users["member"])
    category = str(alpha_catalog["categories"]["garden"].pk)
    created = client.post(
        URL, {"name": "Top rated", "sku": "TR-1", "price": "1.00", "category": category}
    ).json()
    assert created["slug"] != "top-rated"
    assert client.get(f"{URL}{created['slug']}/").json()["id"] == created["id"]


def test_the_reserved_product_slugs_are_exactly_the_list_routes_under_products():
    """Read from the URL conf the router built, not from the view: every
    ``products/<literal>/`` route is a reserved slug and nothing else is, and the schema
    documents the product id as none of them."""
    from drf_spectacular.generators import SchemaGenerator

    routes = set()
    for pattern in get_resolver("atrium.apps.catalog.urls").url_patterns:
        literal = re.fullmatch(r"\^products/([\w-]+)/\$", str(pattern.pattern))
        if literal:
            routes.add(literal[1])
    assert routes == services.reserved_product_slugs() == {"top-rated"}
    schema = SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)
    for method in ("get", "patch", "delete"):
        (id_parameter,) = schema["paths"]["/api/v1/catalog/products/{id}/"][method]["parameters"]
        assert id_parameter["schema"]["pattern"] == "^(?!(?:top-rated)$)[0-9A-Za-z_-]+$"
    # The routes beside the detail route are not shadowed, so their ids take any slug.
    restore = schema["paths"]["/api/v1/catalog/products/{id}/restore/"]["post"]
    assert restore["parameters"][0]["schema"]["pattern"] == "^[0-9A-Za-z_-]+$"


@pytest.mark.django_db
def test_a_taken_sku_is_a_409_conflict_as_documented(tenant_a, alpha_users, alpha_catalog):
    garden = alpha_catalog["categories"]["garden"]
    client = client_for(alpha_users["owner"])
    body = {"name": "Twin", "sku": " rs-1", "price": "1.00", "category": str(garden.pk)}
    created = client.post(URL, body, format="json")  # case-insensitive duplicate of RS-1
    assert created.status_code == 409, created.json()
    assert created.json()["type"] == "client_error"
    assert codes(created) == [("sku_taken", None)]
    anvil = alpha_catalog["products"]["anvil"]
    changed = client.patch(f"{URL}{anvil.pk}/", {"sku": "RS-1"}, format="json")
    assert changed.status_code == 409 and codes(changed) == [("sku_taken", None)]
    with tenant_scope(tenant_a):
        assert Product.objects.filter(sku__iexact="rs-1").count() == 1
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for method, path in (("post", URL), ("patch", URL + "{id}/")):
        operation = schema["paths"][path][method]
        assert "409" in operation["responses"], method
        assert "`sku_taken`" in operation["description"], method
        examples = operation["responses"]["409"]["content"]["application/json"]["examples"]
        assert [e["value"]["errors"][0]["code"] for e in examples.values()] == ["sku_taken"]


@pytest.mark.django_db
def test_cached_list_links_carry_the_host_that_asked(
    alpha_users, alpha_catalog, django_capture_on_commit_callbacks
):
    """A page cached through one of the tenant's hosts is never served with its links to
    another: `next`/`previous` name the host (and port) of the request they answer."""
    from atrium.tenants import services as tenant_services

    with django_capture_on_commit_callbacks(execute=True):
        tenant_services.domain_add(slug="alpha", domain="shop.alpha.example")
    owner = alpha_users["owner"]
    query = {"page_size": 1, "page": 2}
    first = client_for(owner, host="alpha.localhost:8000").get(URL, query)
    assert first["X-Cache"] == "miss"
    assert first.json()["next"] == f"http://alpha.localhost:8000{URL}?page=3&page_size=1"
    for _ in range(2):  # a miss that fills the cache for this host, then a hit
        other = client_for(owner, host="shop.alpha.example").get(URL, query)
        assert other.json()["next"] == f"http://shop.alpha.example{URL}?page=3&page_size=1"
        assert other.json()["previous"] == f"http://shop.alpha.example{URL}?page_size=1"
        assert other.json()["results"] == first.json()["results"]
    assert other["X-Cache"] == "hit"
    again = client_for(owner, host="alpha.localhost:8000").get(URL, query)
    assert again["X-Cache"] == "hit" and again.json() == first.json()


@pytest.mark.django_db
def test_the_read_path_answers_what_the_product_serializer_would(
    tenant_a, alpha_users, alpha_catalog
):
    """Lists, details and top-rated render with ``product_rows``; it must stay the
    serializer's output, value for value (a rating and none, tags and none)."""
    from atrium.apps.catalog import selectors
    from atrium.apps.catalog.serializers import (
        PRODUCT_ROW_COLUMNS,
        ProductSerializer,
        product_rows,
        product_rows_of_values,
    )

    with tenant_scope(tenant_a):
        anvil = alpha_catalog["products"]["anvil"]
        services.review_create(author=alpha_users["member"], product=anvil, rating=4, title="r")
        services.product_update(product=alpha_catalog["products"]["magnet"], tags=[])
        products = list(selectors.product_list())
        assert {p.avg_rating is None for p in products} == {True, False}
        assert {bool(p.tags) for p in products} == {True, False}
        assert product_rows(products) == ProductSerializer(products, many=True).data
        values = selectors.product_list().values_list(*PRODUCT_ROW_COLUMNS)
        assert product_rows_of_values(values) == product_rows(products)
    listed = client_for(alpha_users["member"]).get(URL).json()["results"]
    assert listed == [dict(row) for row in ProductSerializer(products, many=True).data]


@pytest.mark.django_db
def test_the_count_is_kept_per_filter_and_fresh_after_a_write(
    tenant_a,
    alpha_users,
    alpha_catalog,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    """Other pages and sizes of one filter reuse its count; another filter counts its own;
    a write bumps the catalog version, so the next count is recomputed."""
    client = client_for(alpha_users["owner"])
    assert client.get(URL, {"page_size": 1}).json()["count"] == 3
    with django_assert_num_queries(2):  # search_path and the page: no COUNT(*)
        page = client.get(URL, {"page_size": 1, "page": 2, "ordering": "name"})
    assert page.json()["count"] == 3 and page["X-Cache"] == "miss"
    assert client.get(URL, {"status": "draft", "page_size": 1}).json()["count"] == 1
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant_a):
        services.product_create(
            owner=alpha_users["owner"],
            name="Extra",
            sku="EX-1",
            price=Decimal("1"),
            category=alpha_catalog["categories"]["garden"],
        )
    assert client.get(URL, {"page_size": 1, "page": 3}).json()["count"] == 4
    assert client.get(URL, {"status": "draft", "page_size": 1}).json()["count"] == 2
