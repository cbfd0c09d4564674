"""End to end: a product created over HTTP reaches its tenant's sockets, and an export job's
progress reaches the user who started it, and nobody else."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from atrium.apps.catalog import services
from atrium.apps.catalog.models import Category, Product
from atrium.platform.jobs.models import Job
from atrium.tenants.context import tenant_scope

from .sockets import access_token, async_test, in_thread, open_socket, publish_tenant_event


@pytest.fixture
def alpha_category(live_db, tenant_a):
    with tenant_scope(tenant_a):
        category = services.category_create(name="Sockets")
    yield category
    with tenant_scope(tenant_a):
        Product.all_objects.filter(category=category).hard_delete()
        Category.all_objects.filter(pk=category.pk).hard_delete()
        Job.objects.all().delete()


def http_post(host: str, token: str, path: str, data: dict | None = None):
    client = APIClient(HTTP_HOST=host)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post(path, data or {}, format="json")


@async_test
async def test_product_created_over_http_reaches_only_its_tenants_sockets(
    tenant_a, tenant_b, alpha_category, alpha_token, beta_token
):
    async with (
        open_socket(token=alpha_token) as alpha,
        open_socket(host="beta.localhost", token=beta_token) as beta,
    ):
        response = await in_thread(
            http_post,
            "alpha.localhost",
            alpha_token,
            "/api/v1/catalog/products/",
            {
                "name": "Socket Wrench",
                "sku": "SW-1",
                "price": "12.00",
                "category": str(alpha_category.pk),
            },
        )
        assert response.status_code == 201, response.json()
        event = await alpha.receive_json_from(timeout=3)
        assert (event["type"], event["id"]) == ("product.created", response.json()["id"])
        assert event["data"]["sku"] == "SW-1" and event["data"]["price"] == "12.00"
        # Control on the beta socket: it is live, and the first event it gets is its own
        # tenant's, published after alpha's product (which would have come before it).
        await in_thread(publish_tenant_event, tenant_b, "product.created", id="beta-1", data={})
        assert (await beta.receive_json_from(timeout=10))["id"] == "beta-1"
        assert await beta.receive_nothing(timeout=0.3)


@async_test
async def test_export_progress_reaches_only_the_user_who_started_it(
    tenant_a, alpha_member, alpha_category, alpha_token
):
    member_token = await in_thread(access_token, tenant_a, alpha_member)

    def seed() -> None:  # the ORM is sync: run it on the test's thread
        with tenant_scope(tenant_a):
            for i in range(3):
                services.product_create(
                    owner=alpha_member,
                    name=f"Bolt {i}",
                    sku=f"BOLT-{i}",
                    price=Decimal(1),
                    category=alpha_category,
                )

    async with (
        open_socket(token=alpha_token) as owner_socket,
        open_socket(token=member_token) as member_socket,
    ):
        await in_thread(seed)
        # The seed's product.created events go to the whole tenant; drain them.
        for socket in (owner_socket, member_socket):
            for _ in range(3):
                assert (await socket.receive_json_from(timeout=3))["type"] == "product.created"
        response = await in_thread(
            http_post, "alpha.localhost", member_token, "/api/v1/catalog/exports/"
        )
        assert response.status_code == 202
        job_id = response.json()["id"]
        seen = []
        while not seen or seen[-1]["type"] != "job.succeeded":
            seen.append(await member_socket.receive_json_from(timeout=5))
        assert {event["id"] for event in seen} == {job_id}
        assert seen[0]["type"] == "job.progress"
        assert seen[-1]["data"]["status"] == "succeeded"
        assert seen[-1]["data"]["result"] == {"rows": 3}
        assert await owner_socket.receive_nothing(timeout=0.3)  # not the owner's job
