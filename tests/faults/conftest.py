"""Fixtures of the fault suites: a tenant of the test's own, so a fault test may commit
writes (and restart services under them) without touching the suite's alpha and beta."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts import services as accounts
from atrium.platform.accounts.models import Role, User
from atrium.tenants import provisioning
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests.fixtures import OWNER_PASSWORD


@pytest.fixture
def shop(live_db) -> Iterator[Tenant]:
    """A tenant (purged after) with an owner and a member, both with ``OWNER_PASSWORD``, and
    the categories "early" and "late"."""
    slug = f"shop-{uuid.uuid4().hex[:6]}"
    created = provisioning.tenant_create(
        slug=slug, name="Shop", owner_email=f"owner@{slug}.test", owner_password=OWNER_PASSWORD
    )
    live_db.append(slug)
    with tenant_scope(created.tenant):
        owner = User.objects.get()
        accounts.user_create(
            actor=owner, email=f"member@{slug}.test", role=Role.MEMBER, password=OWNER_PASSWORD
        )
        catalog.category_create(name="Early")
        catalog.category_create(name="Late")
    yield created.tenant
