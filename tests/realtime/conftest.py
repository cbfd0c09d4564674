"""Socket fixtures: committed users and their tokens (the app reads them from its threads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant

from .sockets import access_token


@pytest.fixture
def alpha_owner(live_db, tenant_a: Tenant) -> User:
    with tenant_scope(tenant_a):
        return User.objects.get(email="owner@alpha.test")


@pytest.fixture
def beta_owner(live_db, tenant_b: Tenant) -> User:
    with tenant_scope(tenant_b):
        return User.objects.get(email="owner@beta.test")


@pytest.fixture
def alpha_member(live_db, tenant_a: Tenant) -> Iterator[User]:
    """A second user of alpha, committed, deleted afterwards."""
    with tenant_scope(tenant_a):
        user = User.objects.create_user(email="member@alpha.test", role=Role.MEMBER)
    yield user
    with tenant_scope(tenant_a):
        User.objects.filter(pk=user.pk).delete()


@pytest.fixture
def alpha_token(tenant_a: Tenant, alpha_owner: User) -> str:
    return access_token(tenant_a, alpha_owner)


@pytest.fixture
def beta_token(tenant_b: Tenant, beta_owner: User) -> str:
    return access_token(tenant_b, beta_owner)
