"""Tokens that travel in mails: an invitation token works on its own tenant only, and not
after that tenant is purged and re-created under the same slug; a sign-up token works on
the platform host only. Each attack is checked to change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from rest_framework.test import APIClient

from atrium.platform.accounts.models import Role, User
from atrium.platform.invitations.models import Invitation, token_digest, token_new
from atrium.platform.signup.models import PendingSignup
from atrium.platform.signup.models import token_digest as signup_digest
from atrium.tenants import provisioning, services
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import Tenant

from .conftest import ALPHA_HOST, BETA_HOST, assert_error, tenant_rows

ACCEPT = "/api/v1/auth/invitations/accept/"
PASSWORD = "Sturdy-Lantern-Orbit-77"


def _invite(tenant: Tenant, email: str) -> str:
    """A pending invitation of ``tenant`` by its owner (made without its mail); its token."""
    token = token_new()
    with tenant_scope(tenant):
        Invitation.objects.create(
            email=email,
            role=Role.MEMBER,
            token_hash=token_digest(token),
            invited_by=User.objects.filter(role=Role.OWNER).first(),
            expires_at=timezone.now() + timedelta(days=1),
        )
    return token


def _accept(host: str, token: str):
    return APIClient(HTTP_HOST=host).post(
        ACCEPT, {"token": token, "name": "Intruder", "password": PASSWORD}
    )


@pytest.mark.django_db
def test_an_alpha_invitation_token_is_refused_on_beta(tenant_a, tenant_b):
    token = _invite(tenant_a, "wanderer@example.test")
    before = tenant_rows(tenant_b)
    assert_error(_accept(BETA_HOST, token), 400, "invitation_invalid")
    assert tenant_rows(tenant_b) == before
    # The refusal spent nothing: the token still works where it was minted.
    assert _accept(ALPHA_HOST, token).status_code == 201


def test_an_invitation_token_dies_with_its_tenant(live_db):
    """Purged and re-created under the same slug, the tenant is a new one: the old token
    is unknown there."""
    live_db.append("phoenix")
    first = provisioning.tenant_create(
        slug="phoenix", name="Phoenix", owner_email="owner@phoenix.test", owner_password=PASSWORD
    )
    token = _invite(first.tenant, "ash@example.test")
    services.tenant_purge(slug="phoenix")
    second = provisioning.tenant_create(
        slug="phoenix", name="Phoenix", owner_email="owner@phoenix.test", owner_password=PASSWORD
    )
    assert second.tenant.schema_name != first.tenant.schema_name
    before = tenant_rows(second.tenant)
    assert_error(_accept("phoenix.localhost", token), 400, "invitation_invalid")
    assert tenant_rows(second.tenant) == before


@pytest.mark.django_db
def test_a_sign_up_token_works_on_the_platform_host_only(tenant_a):
    token = "signup-token-for-the-platform-only-xxxxxxxx"
    with public_scope():
        PendingSignup.objects.create(
            company_name="Sly",
            slug="sly-co",
            email="sly@example.test",
            password_hash=make_password(PASSWORD),
            token_hash=signup_digest(token),
            expires_at=timezone.now() + timedelta(hours=1),
        )
    before = tenant_rows(tenant_a)
    tenant_host = APIClient(HTTP_HOST=ALPHA_HOST)
    assert_error(tenant_host.post("/api/v1/signup/confirm/", {"token": token}), 404, "not_found")
    # Nor is it an invitation token of the tenant.
    assert_error(_accept(ALPHA_HOST, token), 400, "invitation_invalid")
    assert tenant_rows(tenant_a) == before
    with public_scope():
        assert PendingSignup.objects.get(slug="sly-co").confirmed_at is None
        assert not Tenant.objects.filter(slug="sly-co").exists()


@pytest.mark.django_db
def test_an_invitation_token_is_no_sign_up_token(tenant_a):
    token = _invite(tenant_a, "mixup@example.test")
    with public_scope():
        tenants = Tenant.objects.count()
    response = APIClient(HTTP_HOST="localhost").post("/api/v1/signup/confirm/", {"token": token})
    assert_error(response, 400, "signup_invalid")
    with public_scope():
        assert Tenant.objects.count() == tenants
