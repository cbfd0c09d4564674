"""Fixtures of the webhooks tests: a real local receiver, people of tenant alpha, and the
receiver's hosts allowed past the SSRF rules."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import tenant_scope

from .receiver import Receiver


@pytest.fixture
def receiver(settings):
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1,localhost"
    with Receiver() as server:
        yield server


@pytest.fixture
def people(tenant_a):
    with tenant_scope(tenant_a):
        return {
            "owner": User.objects.get(email="owner@alpha.test"),
            "admin": User.objects.create_user(email="wh-admin@alpha.test", role=Role.ADMIN),
            "member": User.objects.create_user(email="wh-member@alpha.test", role=Role.MEMBER),
        }


def as_user(user: User, host: str = "alpha.localhost") -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.force_authenticate(user)
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]
