"""Audit fixtures: users of each role in tenant alpha and API clients for them."""

import pytest
from rest_framework.test import APIClient

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
    return users
