"""A Hypothesis state machine drives two tenants through the real API at random.

Rules create, change, delete (soft) and restore products, review them and export the
catalog (a job whose CSV is read back), on either tenant, in any order; a plain model of
each tenant's catalog follows along. After every step both tenants' product lists and a
product's detail (cached per tenant, so every write must refresh them) must show exactly
that tenant's model, and nothing of the other tenant; the other tenant's products must not
be found from this host.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Category, Product, Review
from atrium.platform.accounts.models import User
from atrium.tenants.context import tenant_scope

from .fuzz_support import SeededTenant, fuzz_plan, seeded_pair

# The budget grows with every route the schema documents; the suite's 300 s default is a
# hang guard, and this test makes hundreds of requests on purpose.
pytestmark = pytest.mark.timeout(900)

LIST = "/api/v1/catalog/products/?page_size=100"
NAMES = ["Anvil", "Rocket", "Magnet", "Skates", "Spring", "Glue"]  # few: slugs collide
SERIAL = itertools.count(1)


@dataclass
class ProductModel:
    id: str
    slug: str
    sku: str
    name: str
    price: Decimal
    stock: int
    deleted: bool = False
    ratings: dict[str, int] = field(default_factory=dict)  # author -> rating

    def view(self) -> tuple:
        """What the API must show of the product."""
        count = len(self.ratings)
        average = (
            (Decimal(sum(self.ratings.values())) / count).quantize(Decimal("0.01"))
            if count
            else None
        )
        return (self.id, self.slug, self.sku, self.name, self.price, self.stock, count, average)


def api_view(item: dict) -> tuple:
    average = Decimal(item["avg_rating"]) if item["avg_rating"] is not None else None
    return (
        item["id"],
        item["slug"],
        item["sku"],
        item["name"],
        Decimal(item["price"]),
        item["stock"],
        item["review_count"],
        average,
    )


class TenantSide:
    """One tenant as the machine sees it: API clients and the model of its catalog."""

    def __init__(self, seeded: SeededTenant) -> None:
        self.seeded = seeded
        self.clients = {
            who: APIClient(HTTP_HOST=seeded.host, HTTP_AUTHORIZATION=f"Bearer {token}")
            for who, token in (("owner", seeded.owner_token), ("member", seeded.member_token))
        }
        self.category = seeded.ids["categories"][0]
        self.products: dict[str, ProductModel] = {}
        self.reset()

    def reset(self) -> None:
        """The same starting catalog for every example (the rows are committed, and Hypothesis
        needs each run to start where the others did): one product, one review."""
        with tenant_scope(self.seeded.tenant):
            Review.all_objects.all().hard_delete()
            Product.all_objects.all().hard_delete()
            owner = User.objects.get(pk=self.seeded.owner_id)
            product = catalog.product_create(
                owner=owner,
                name="Seed",
                sku=f"SEED-{self.seeded.slug}",
                price=Decimal("5.00"),
                category=Category.objects.get(pk=self.category),
            )
            catalog.review_create(author=owner, product=product, rating=3, title="seed")
        self.products = {
            str(product.pk): ProductModel(
                id=str(product.pk),
                slug=product.slug,
                sku=product.sku,
                name=product.name,
                price=product.price,
                stock=product.stock,
                ratings={"owner": 3},
            )
        }

    @property
    def client(self) -> APIClient:
        return self.clients["owner"]

    def live(self) -> list[ProductModel]:
        return [p for p in self.products.values() if not p.deleted]

    def deleted(self) -> list[ProductModel]:
        return [p for p in self.products.values() if p.deleted]


class TwoTenantCatalog(RuleBasedStateMachine):
    pair: tuple[SeededTenant, SeededTenant]  # set by the test

    @initialize()
    def start(self):
        self.sides = [TenantSide(seeded) for seeded in self.pair]

    def side(self, index: int) -> TenantSide:
        return self.sides[index]

    # ----------------------------------------------------------------------------- writes

    @rule(
        index=st.integers(0, 1),
        name=st.sampled_from(NAMES),
        price=st.decimals(min_value=0, max_value=10_000, places=2),
        stock=st.integers(0, 50),
    )
    def create(self, index, name, price, stock):
        side = self.side(index)
        sku = f"SM-{next(SERIAL)}"
        response = side.client.post(
            "/api/v1/catalog/products/",
            {
                "name": name,
                "sku": sku,
                "price": str(price),
                "stock": stock,
                "category": side.category,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["sku"], body["name"], Decimal(body["price"])) == (sku, name, price)
        side.products[body["id"]] = ProductModel(
            id=body["id"], slug=body["slug"], sku=sku, name=name, price=price, stock=stock
        )

    @precondition(lambda self: any(side.live() for side in self.sides))
    @rule(data=st.data(), stock=st.integers(0, 50), price=st.decimals(0, 999, places=2))
    def update(self, data, stock, price):
        index = data.draw(st.sampled_from([i for i, s in enumerate(self.sides) if s.live()]))
        side = self.side(index)
        product = data.draw(st.sampled_from(side.live()))
        response = side.client.patch(
            f"/api/v1/catalog/products/{product.slug}/",
            {"stock": stock, "price": str(price)},
            format="json",
        )
        assert response.status_code == 200, response.content
        product.stock, product.price = stock, price

    @precondition(lambda self: any(side.live() for side in self.sides))
    @rule(data=st.data())
    def delete(self, data):
        index = data.draw(st.sampled_from([i for i, s in enumerate(self.sides) if s.live()]))
        side = self.side(index)
        product = data.draw(st.sampled_from(side.live()))
        response = side.client.delete(f"/api/v1/catalog/products/{product.id}/")
        assert response.status_code == 204, response.content
        product.deleted = True
        assert side.client.get(f"/api/v1/catalog/products/{product.id}/").status_code == 404

    @precondition(lambda self: any(side.deleted() for side in self.sides))
    @rule(data=st.data())
    def restore(self, data):
        index = data.draw(st.sampled_from([i for i, s in enumerate(self.sides) if s.deleted()]))
        side = self.side(index)
        product = data.draw(st.sampled_from(side.deleted()))
        response = side.client.post(f"/api/v1/catalog/products/{product.id}/restore/")
        taken = any(p.slug == product.slug or p.sku == product.sku for p in side.live())
        if taken:  # a live product took its slug since
            assert response.status_code == 409, response.content
            return
        assert response.status_code == 200, response.content
        product.deleted = False

    @precondition(lambda self: any(side.live() for side in self.sides))
    @rule(data=st.data(), who=st.sampled_from(["owner", "member"]), rating=st.integers(1, 5))
    def review(self, data, who, rating):
        index = data.draw(st.sampled_from([i for i, s in enumerate(self.sides) if s.live()]))
        side = self.side(index)
        product = data.draw(st.sampled_from(side.live()))
        response = side.clients[who].post(
            f"/api/v1/catalog/products/{product.slug}/reviews/",
            {"rating": rating, "title": "stateful"},
            format="json",
        )
        if who in product.ratings:  # one live review per author and product
            assert response.status_code == 400, response.content
            return
        assert response.status_code == 201, response.content
        product.ratings[who] = rating

    @rule(index=st.integers(0, 1))
    def export(self, index):
        side = self.side(index)
        response = side.client.post("/api/v1/catalog/exports/")
        assert response.status_code == 202, response.content
        job = side.client.get(f"/api/v1/jobs/{response.json()['id']}/").json()
        assert job["status"] == "succeeded", job  # eager: the task ran at commit
        download = side.client.get(f"/api/v1/jobs/{job['id']}/download/")
        assert download.status_code == 200
        rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
        assert sorted(row["sku"] for row in rows) == sorted(p.sku for p in side.live())
        other = self.side(1 - index)
        # Not found on the other tenant's host; refused here with the other tenant's token.
        assert other.client.get(f"/api/v1/jobs/{job['id']}/download/").status_code == 404
        with_other_token = APIClient(HTTP_HOST=side.seeded.host)
        with_other_token.credentials(HTTP_AUTHORIZATION=f"Bearer {other.seeded.owner_token}")
        assert with_other_token.get(f"/api/v1/jobs/{job['id']}/").status_code == 401

    # ------------------------------------------------------------------------- invariants

    @invariant()
    def each_tenant_sees_exactly_its_model(self):
        if not hasattr(self, "sides"):
            return
        for index, side in enumerate(self.sides):
            other = self.sides[1 - index]
            for _ in range(2):  # a miss, then (unless written meanwhile) a hit
                response = side.client.get(LIST)
                assert response.status_code == 200
                page = response.json()
                assert page["count"] == len(side.live()), response.get("X-Cache")
                shown = sorted(api_view(item) for item in page["results"])
                expected = sorted(p.view() for p in side.live())
                assert shown == expected, f"{side.seeded.slug} (X-Cache {response['X-Cache']})"
                foreign = {p.sku for p in other.products.values()}
                assert not foreign & {item["sku"] for item in page["results"]}

    @invariant()
    def details_are_fresh_and_stay_on_their_tenant(self):
        if not hasattr(self, "sides"):
            return
        for index, side in enumerate(self.sides):
            other = self.sides[1 - index]
            for product in list(side.products.values())[-3:]:
                detail = side.client.get(f"/api/v1/catalog/products/{product.id}/")
                if product.deleted:
                    assert detail.status_code == 404
                else:
                    assert detail.status_code == 200
                    assert api_view(detail.json()) == product.view()
                # The same id or slug on the other tenant's host, with its own token.
                for key in (product.id, product.slug):
                    found = other.client.get(f"/api/v1/catalog/products/{key}/")
                    if found.status_code == 200:  # the other tenant's own product of that slug
                        assert found.json()["id"] in other.products, found.content
                    else:
                        assert found.status_code == 404


@pytest.fixture(scope="module")
def stateful_pair(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), fuzz_plan(), seeded_pair("sm") as pair:
        yield pair


def test_two_tenants_interleaved_see_only_their_own(stateful_pair):
    TwoTenantCatalog.pair = stateful_pair
    run = TwoTenantCatalog.TestCase
    run.settings = settings(
        max_examples=15,
        stateful_step_count=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        # No shrinking: every step is a few real requests, and the failing run's steps are
        # printed as they were.
        phases=[Phase.explicit, Phase.generate],
    )
    run("runTest").runTest()
