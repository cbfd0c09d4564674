"""The two admins: each tenant's own, for its staff, and the operators' platform admin."""

import pytest
from django.test import Client

from atrium.platform.accounts.models import User
from atrium.tenants.context import public_scope

from .conftest import OWNER_PASSWORD

OPERATOR_PASSWORD = "Operator-Password-99"


def login(host: str, email: str, password: str) -> Client:
    client = Client(HTTP_HOST=host)
    response = client.post("/admin/login/?next=/admin/", {"username": email, "password": password})
    client.login_response = response
    return client


@pytest.fixture
def operator(db):
    with public_scope():
        return User.objects.create_superuser(email="ops@atrium.test", password=OPERATOR_PASSWORD)


@pytest.mark.django_db
def test_tenant_staff_uses_their_tenant_admin(tenant_a):
    client = login("alpha.localhost", "owner@alpha.test", OWNER_PASSWORD)
    assert client.login_response.status_code == 302
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b"Alpha Ltd" in page.content  # the header names the tenant
    assert b"/admin/accounts/user/" in page.content
    assert b"/admin/tenants/" not in page.content  # the platform tables are not there
    users = client.get("/admin/accounts/user/")
    assert b"owner@alpha.test" in users.content
    assert b"owner@beta.test" not in users.content


@pytest.mark.django_db
def test_tenant_staff_cannot_log_into_another_tenant_or_the_platform(tenant_a, tenant_b, operator):
    for host in ("beta.localhost", "localhost"):
        client = login(host, "owner@alpha.test", OWNER_PASSWORD)
        assert client.login_response.status_code == 200  # the form again, with an error
        assert b"Please enter the correct" in client.login_response.content
        assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_a_tenant_session_is_not_valid_on_another_host(tenant_a, tenant_b):
    client = login("alpha.localhost", "owner@alpha.test", OWNER_PASSWORD)
    cookie = client.login_response.cookies["sessionid"]
    assert cookie["domain"] == ""  # host-only: browsers never send it to another host
    # Even a forged cookie is meaningless elsewhere: sessions live in the tenant's schema.
    stolen = Client(HTTP_HOST="beta.localhost")
    stolen.cookies["sessionid"] = cookie.value
    assert stolen.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_operators_admin_lists_tenants_and_domains(operator, tenant_a):
    client = login("localhost", "ops@atrium.test", OPERATOR_PASSWORD)
    assert client.login_response.status_code == 302
    index = client.get("/admin/")
    assert b"/admin/tenants/tenant/" in index.content
    assert b"/admin/tenants/domain/" in index.content
    tenants = client.get("/admin/tenants/tenant/")
    assert b"alpha" in tenants.content and b"beta" in tenants.content
    domains = client.get("/admin/tenants/domain/")
    assert b"alpha.localhost" in domains.content
    # Tenants are born through provisioning only.
    assert client.get("/admin/tenants/tenant/add/").status_code == 403


@pytest.mark.django_db
def test_operator_cannot_log_into_a_tenant_admin(operator, tenant_a):
    client = login("alpha.localhost", "ops@atrium.test", OPERATOR_PASSWORD)
    assert client.login_response.status_code == 200
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_tenant_admin_manages_users_by_the_api_rules(tenant_a):
    from atrium.platform.accounts.models import Role
    from atrium.tenants.context import tenant_scope

    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        admin_user = User.objects.create_user(email="adm@alpha.test", password=OPERATOR_PASSWORD)
        admin_user.apply_role(Role.ADMIN)
        admin_user.save()
    client = login("alpha.localhost", "adm@alpha.test", OPERATOR_PASSWORD)
    assert client.login_response.status_code == 302  # admins are staff of their tenant
    assert client.get("/admin/accounts/user/").status_code == 200

    # Invite a member: a one-time password is shown once.
    added = client.post(
        "/admin/accounts/user/add/",
        {"email": "Invited@Alpha.test", "name": "Invited", "role": "member", "password": ""},
        follow=True,
    )
    assert b"One-time password for invited@alpha.test" in added.content
    with tenant_scope(tenant_a):
        invited = User.objects.get(email="invited@alpha.test")
    assert (invited.role, invited.is_staff) == ("member", False)

    # An admin may not create owners, nor touch the owner: the form says why, nothing changes.
    refused = client.post(
        "/admin/accounts/user/add/", {"email": "boss2@alpha.test", "name": "", "role": "owner"}
    )
    assert b"Only owners may grant" in refused.content
    demote = client.post(
        f"/admin/accounts/user/{owner.pk}/change/",
        {"name": "", "role": "member", "is_active": "on"},
    )
    assert b"Only owners may grant" in demote.content
    # Even the owner cannot demote the last owner.
    as_owner = login("alpha.localhost", "owner@alpha.test", OWNER_PASSWORD)
    last = as_owner.post(
        f"/admin/accounts/user/{owner.pk}/change/", {"name": "", "role": "admin", "is_active": ""}
    )
    assert b"at least one active owner" in last.content
    with tenant_scope(tenant_a):
        owner.refresh_from_db()
    assert (owner.role, owner.is_active) == ("owner", True)
    # Users are deactivated, never deleted.
    assert client.get(f"/admin/accounts/user/{invited.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_members_have_no_admin(tenant_a):
    from atrium.tenants.context import tenant_scope

    with tenant_scope(tenant_a):
        User.objects.create_user(email="mem@alpha.test", password=OPERATOR_PASSWORD)
    client = login("alpha.localhost", "mem@alpha.test", OPERATOR_PASSWORD)
    assert client.login_response.status_code == 200
    assert client.get("/admin/").status_code == 302
