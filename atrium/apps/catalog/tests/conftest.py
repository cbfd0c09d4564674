"""Catalog fixtures: users of each role in tenant alpha, API clients, a small catalog."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from atrium.apps.catalog import services
from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import tenant_scope


def client_for(user: User, host: str = "alpha.localhost") -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.force_authenticate(user)
    return client


@pytest.fixture
def alpha_users(tenant_a):
    with tenant_scope(tenant_a):
        users = {"owner": User.objects.get(email="owner@alpha.test")}
        for role in (Role.ADMIN, Role.MEMBER):
            user = User(email=f"{role}@alpha.test")
            user.apply_role(role)
            user.save()
            users[role] = user
        other = User(email="other-member@alpha.test")
        other.save()
        users["other_member"] = other
    return users


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
