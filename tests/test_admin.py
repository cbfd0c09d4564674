"""The two admins: each tenant's own, for its staff, and the operators' platform admin."""

import pytest
from django.db import connection
from django.test import Client

from atrium.platform.accounts.models import User
from atrium.tenants import provisioning
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.directory import directory
from atrium.tenants.models import Domain, Tenant

from .fixtures import OWNER_PASSWORD

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


# ----------------------------------------------------------------------------- platform admin
# Everything an operator changes here goes through the CLI's services and validation.


def domain_count(**filters) -> int:
    with public_scope():
        return Domain.objects.filter(**filters).count()


@pytest.fixture
def ops(operator) -> Client:
    client = login("localhost", "ops@atrium.test", OPERATOR_PASSWORD)
    assert client.login_response.status_code == 302
    return client


@pytest.mark.parametrize(
    ("tenant", "domain", "message"),
    [
        ("alpha", "Not A Host!!", "Invalid domain"),
        ("alpha", "beta.localhost", "may only use alpha.localhost there"),
        ("alpha", "BETA.LOCALHOST", "may only use alpha.localhost there"),
        ("beta", "beta.localhost", "already in use by tenant &#x27;beta&#x27;"),
        ("alpha", "127.0.0.1", "an IP address never routes to a tenant"),
        ("alpha", "2130706433", "an IP address never routes to a tenant"),
        ("alpha", "www.localhost", "serves the platform itself"),
    ],
)
@pytest.mark.django_db
def test_platform_admin_refuses_the_domains_the_cli_refuses(
    ops, tenant_a, tenant_b, tenant, domain, message
):
    tenant_id = {"alpha": tenant_a.pk, "beta": tenant_b.pk}[tenant]
    before = domain_count()

    response = ops.post(
        "/admin/tenants/domain/add/", {"tenant": tenant_id, "domain": domain, "is_primary": ""}
    )

    assert response.status_code == 200  # the form again, with the error on the field
    assert message in response.content.decode()
    assert domain_count() == before


@pytest.mark.django_db
def test_platform_admin_refuses_an_unknown_plan(ops, tenant_a):
    response = ops.post(
        f"/admin/tenants/tenant/{tenant_a.pk}/change/",
        {**tenant_change_data(ops, tenant_a), "plan": "gold"},
    )
    assert response.status_code == 200
    assert "Select a valid choice. gold is not one of the available choices." in (
        response.content.decode()
    )
    with public_scope():
        assert Tenant.objects.get(pk=tenant_a.pk).plan == "free"


def tenant_change_data(client: Client, tenant) -> dict:
    """The change form's fields as the page renders them (inline management form included)."""
    page = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    data = {"name": tenant.name, "plan": tenant.plan}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name, field in management.fields.items():
            data[management.add_prefix(name)] = management.initial.get(name, field.initial)
        for form in formset.formset.forms:
            data[form.add_prefix("id")] = form.instance.pk
            data[form.add_prefix("tenant")] = tenant.pk
    return data


@pytest.fixture
def live_ops(live_db) -> Client:
    with public_scope():
        user = User.objects.create_superuser(email="ops@atrium.test", password=OPERATOR_PASSWORD)
    try:
        client = login("localhost", "ops@atrium.test", OPERATOR_PASSWORD)
        assert client.login_response.status_code == 302
        yield client
    finally:
        # Raw: the ORM's cascade would look for tenant-only tables (jobs) in public.
        with public_scope(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_admin_log WHERE user_id = %s", [user.pk])
            cursor.execute("DELETE FROM accounts_user WHERE id = %s", [user.pk])


def live_tenant(live_db, slug: str):
    live_db.append(slug)
    return provisioning.tenant_create(
        slug=slug,
        name=slug.title(),
        owner_email=f"owner@{slug}.test",
        owner_password=OWNER_PASSWORD,
    ).tenant


def serve(host: str):
    return Client().get("/", HTTP_HOST=host)


def test_platform_admin_changes_name_and_plan_through_the_service(live_db, live_ops):
    tenant = live_tenant(live_db, "adm-plan")
    assert directory.lookup("adm-plan.localhost").plan == "free"  # warm the routing cache

    response = live_ops.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        {**tenant_change_data(live_ops, tenant), "name": "  Renamed Co  ", "plan": "pro"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    with public_scope():
        tenant.refresh_from_db()
    assert (tenant.name, tenant.plan) == ("Renamed Co", "pro")
    record = directory.lookup("adm-plan.localhost")  # routing was invalidated after commit
    assert (record.name, record.plan) == ("Renamed Co", "pro")


def test_platform_admin_manages_domains_through_the_services(live_db, live_ops):
    tenant = live_tenant(live_db, "adm-dom")
    assert serve("shop.adm-dom.example").status_code == 404

    added = live_ops.post(
        "/admin/tenants/domain/add/",
        {"tenant": tenant.pk, "domain": "Shop.ADM-Dom.Example.", "is_primary": ""},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    with public_scope():
        shop = Domain.objects.get(domain="shop.adm-dom.example")
    assert (shop.tenant_id, shop.is_primary) == (tenant.pk, False)
    assert serve("shop.adm-dom.example").json()["tenant"] == "adm-dom"

    primary = live_ops.post(f"/admin/tenants/domain/{shop.pk}/change/", {"is_primary": "on"})
    assert primary.status_code == 302
    with public_scope():
        assert dict(Domain.objects.filter(tenant=tenant).values_list("domain", "is_primary")) == {
            "shop.adm-dom.example": True,
            "adm-dom.localhost": False,
        }
        old = Domain.objects.get(domain="adm-dom.localhost")
    # The primary domain cannot be removed; the other one can, and stops routing at once.
    assert live_ops.get(f"/admin/tenants/domain/{shop.pk}/delete/").status_code == 403
    removed = live_ops.post(f"/admin/tenants/domain/{old.pk}/delete/", {"post": "yes"})
    assert removed.status_code == 302
    assert domain_count(tenant=tenant) == 1
    assert serve("adm-dom.localhost").status_code == 404


def test_platform_admin_status_actions_run_the_services(live_db, live_ops):
    tenant = live_tenant(live_db, "adm-life")
    host = "adm-life.localhost"
    assert serve(host).status_code == 200

    def act(action: str):
        return live_ops.post(
            "/admin/tenants/tenant/",
            {"action": action, "_selected_action": [str(tenant.pk)]},
            follow=True,
        )

    page = act("suspend_tenants")
    assert "Suspended adm-life." in page.content.decode()
    with public_scope():
        tenant.refresh_from_db()
    assert tenant.status == "suspended"
    assert tenant.status_reason == "suspended in the platform admin by ops@atrium.test"
    response = serve(host)
    assert (response.status_code, response.json()["errors"][0]["code"]) == (
        403,
        "tenant_suspended",
    )

    act("activate_tenants")
    assert serve(host).status_code == 200

    act("archive_tenants")
    with public_scope():
        tenant.refresh_from_db()
    assert tenant.status == "archived"
    assert serve(host).status_code == 403

    page = act("suspend_tenants")  # the service's refusal is shown, nothing changes
    assert "is archived; it cannot be suspended" in page.content.decode()
    with public_scope():
        tenant.refresh_from_db()
    assert tenant.status == "archived"


@pytest.mark.django_db
def test_plans_are_a_validated_choice_from_settings(tenant_a, settings):
    from django.core.exceptions import ImproperlyConfigured, ValidationError

    from atrium.tenants import errors, plans, services

    with pytest.raises(errors.InvalidInput, match="Unknown plan 'gold'; choose one of: free, pro"):
        services.tenant_update(slug="alpha", plan="gold")
    with pytest.raises(ValidationError, match="gold"):
        Tenant(slug="x", name="X", schema_name="x", plan="gold").clean_fields()

    settings.ATRIUM_PLANS = {**settings.ATRIUM_PLANS, "gold": {"burst": None, "sustained": "1/s"}}
    Tenant(slug="x", name="X", schema_name="x", plan="gold").clean_fields(exclude=["schema_name"])
    plans.check_settings()

    for bad in (
        ["free", "pro"],
        {},
        {"free": {"burst": "30/10s"}},
        {"Free Plan": {"burst": "30/10s", "sustained": "600/h"}},
        {"pro": {"burst": "30/10s", "sustained": "600/h"}},  # the default plan is missing
    ):
        settings.ATRIUM_PLANS = bad
        with pytest.raises(ImproperlyConfigured):
            plans.check_settings()


# ----------------------------------------------------------------------------- deleting users
# The User model lives in the public schema (operators) and in every tenant's; the models
# that point at it (jobs, products, reviews, outstanding tokens) exist only in tenants.


def operator_in_public(email: str) -> User:
    with public_scope():
        return User.objects.create_user(email=email, password=OPERATOR_PASSWORD, is_staff=True)


def public_user_exists(email: str) -> bool:
    with public_scope():
        return User.objects.filter(email=email).exists()


@pytest.mark.django_db
def test_platform_admin_deletes_an_operator(ops, tenant_a):
    leaving = operator_in_public("leaving@atrium.test")
    url = f"/admin/accounts/user/{leaving.pk}/delete/"
    confirm = ops.get(url)  # the page lists what would go with the user
    assert confirm.status_code == 200, confirm.content[:2000]
    assert b"leaving@atrium.test" in confirm.content
    done = ops.post(url, {"post": "yes"})
    assert done.status_code == 302, done.content[:2000]
    assert not public_user_exists("leaving@atrium.test")
    # The bulk action too.
    ids = [operator_in_public(f"bulk-{n}@atrium.test").pk for n in range(2)]
    selected = {"action": "delete_selected", "_selected_action": [str(pk) for pk in ids]}
    assert ops.post("/admin/accounts/user/", selected).status_code == 200  # confirmation
    assert ops.post("/admin/accounts/user/", {**selected, "post": "yes"}).status_code == 302
    assert not public_user_exists("bulk-0@atrium.test")
    assert public_user_exists("ops@atrium.test")
    # The tenants' users of the same e-mail, in their own schemas, are untouched.
    with tenant_scope(tenant_a):
        assert User.objects.filter(email="owner@alpha.test").exists()


@pytest.mark.django_db
def test_operators_are_deleted_through_the_orm_in_public_scope(tenant_a):
    operator_in_public("one@atrium.test")
    operator_in_public("two@atrium.test")
    with public_scope():
        deleted, per_model = User.objects.filter(email="one@atrium.test").delete()
        assert (deleted, per_model) == (1, {"accounts.User": 1})
        User.objects.get(email="two@atrium.test").delete()
    assert not public_user_exists("one@atrium.test")
    assert not public_user_exists("two@atrium.test")


@pytest.mark.django_db
def test_deleting_a_tenants_user_still_follows_the_tenant_relations(tenant_a):
    """In a tenant's schema the tenant-only relations are there and are followed: a user
    with a job is protected, and an outstanding token loses its user (SET_NULL)."""
    from django.db.models import ProtectedError
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from atrium.platform.accounts.tokens import token_pair_issue
    from atrium.platform.jobs import services as jobs

    with tenant_scope(tenant_a):
        worker = User.objects.create_user(email="worker@alpha.test")
        jobs.job_create(kind="catalog.export", created_by=worker)
        with pytest.raises(ProtectedError):
            worker.delete()
        with pytest.raises(ProtectedError):
            User.objects.filter(pk=worker.pk).delete()
        leaver = User.objects.create_user(email="leaver@alpha.test")
        token_pair_issue(user=leaver)
        outstanding = OutstandingToken.objects.get(user=leaver)
        leaver.delete()
        outstanding.refresh_from_db()
        assert outstanding.user_id is None


@pytest.mark.django_db
def test_a_one_time_password_must_be_changed_before_the_tenant_admin_opens(
    tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    """As on the API: a generated password opens only the password change (and logout);
    the change goes through the accounts service (no longer one-time, audited, mailed)."""
    from atrium.platform.accounts import services as accounts
    from atrium.platform.accounts.models import Role
    from atrium.platform.audit.models import AuditEvent

    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        created = accounts.user_create(actor=owner, email="fresh@alpha.test", role=Role.ADMIN)
    client = login("alpha.localhost", "fresh@alpha.test", created.one_time_password)
    assert client.login_response.status_code == 302
    for page in ("/admin/", "/admin/accounts/user/", "/admin/settings/cors-origins/"):
        sent = client.get(page)
        assert (sent.status_code, sent["Location"]) == (302, "/admin/password_change/"), page
    assert client.get("/admin/password_change/").status_code == 200

    new_password = "Fresh-Horse-Battery-42"
    wrong = client.post(
        "/admin/password_change/",
        {"old_password": "nope", "new_password1": new_password, "new_password2": new_password},
    )
    assert wrong.status_code == 200  # the form again, with its error
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/admin/password_change/",
            {
                "old_password": created.one_time_password,
                "new_password1": new_password,
                "new_password2": new_password,
            },
        )
    assert (done.status_code, done["Location"]) == (302, "/admin/password_change/done/")
    assert client.get("/admin/").status_code == 200  # still signed in, and let through
    with tenant_scope(tenant_a):
        fresh = User.objects.get(email="fresh@alpha.test")
        assert not fresh.password_change_required and fresh.check_password(new_password)
        assert AuditEvent.objects.filter(action="password.changed", target_id=str(fresh.pk))
    assert smtp_sink.wait_for(to="fresh@alpha.test")["Subject"].endswith(
        "Your password was changed"
    )
