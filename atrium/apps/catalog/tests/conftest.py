"""Catalog fixtures: a small catalog of tenant alpha (its users, ``alpha_users``, and
``client_for`` are the suite's: ``tests/fixtures.py``)."""

from decimal import Decimal

import pytest

from atrium.apps.catalog import services
from atrium.tenants.context import tenant_scope


@pytest.fixture
def alpha_catalog(tenant_a, alpha_users):
    """Two categories and three products of alpha (one by the member), no reviews."""
    with tenant_scope(tenant_a):
        garden = services.category_create(name="Garden")
        tools = services.category_create(name="Tools")
        products = {
            "skates": services.product_create(
                owner=alpha_users["owner"],
                name="Rocket Skates",
                sku="RS-1",
                price=Decimal("199.00"),
                stock=5,
                status="active",
                category=garden,
                description="Very fast wheels",
                tags=["fast", "rocket"],
            ),
            "anvil": services.product_create(
                owner=alpha_users["owner"],
                name="Anvil",
                sku="AN-1",
                price=Decimal("49.50"),
                stock=0,
                status="active",
                category=tools,
                tags=["heavy"],
            ),
            "magnet": services.product_create(
                owner=alpha_users["member"],
                name="Giant Magnet",
                sku="GM-1",
                price=Decimal("80.00"),
                stock=2,
                status="draft",
                category=tools,
                tags=["heavy", "fast"],
            ),
        }
    return {"categories": {"garden": garden, "tools": tools}, "products": products}
