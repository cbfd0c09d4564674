"""Plans, quotas and metering: plans from settings, validated everywhere a plan is set;
quotas enforced by the services (403 ``quota_exceeded``, also when two creates race at the
limit); API requests and their users metered in Redis and flushed by beat into the public
``TenantUsage`` table; the usage API and the ``tenants usage`` / ``tenants plan`` CLI; a
plan change seen by another process on its next request."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Category, Product
from atrium.errors import InvalidInput
from atrium.platform.accounts import services as accounts
from atrium.platform.accounts.models import Role, User
from atrium.platform.tasks import usage_flush
from atrium.tenants import plans, provisioning, services, usage
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import Tenant, TenantUsage
from atrium.tenants.quotas import QuotaExceeded
from tests import driver
from tests.api.test_throttling import redis_down_settings
from tests.fixtures import OWNER_PASSWORD, run_cli

USAGE = "/api/v1/usage/"
USERS = "/api/v1/users/"
PRODUCTS = "/api/v1/catalog/products/"


def with_quota(settings, plan: str = "free", **quotas) -> None:
    """The plan's quotas replaced by ``quotas`` (its request limits stay)."""
    settings.ATRIUM_PLANS = {
        **settings.ATRIUM_PLANS,
        plan: {**settings.ATRIUM_PLANS[plan], **quotas},
    }


def as_user(user: User, host: str = "alpha.localhost") -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.force_authenticate(user)
    return client


def error_of(response) -> dict:
    body = response.json()
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


@pytest.fixture
def alpha_people(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        admin = User.objects.create_user(email="admin@alpha.test", role=Role.ADMIN)
        member = User.objects.create_user(email="member@alpha.test", role=Role.MEMBER)
        seats = User.objects.filter(is_active=True).count()
    return {"owner": owner, "admin": admin, "member": member, "seats": seats}


# ----------------------------------------------------------------------------- plans


def test_default_plans_have_their_quotas_and_rate_limits(settings):
    quotas = {name: plans.plan_quotas(name) for name in plans.plan_names()}
    assert quotas["free"]["seats"] == 25 and quotas["pro"]["seats"] == 250
    assert quotas["enterprise"] == {"seats": None, "products": None, "storage_bytes": None}
    assert quotas["free"]["products"] < quotas["pro"]["products"]
    assert quotas["free"]["storage_bytes"] < quotas["pro"]["storage_bytes"]
    limits = settings.ATRIUM_RATE_LIMITS
    assert len({limits[name]["burst"] for name in ("free", "pro", "enterprise")}) == 3
    assert settings.ATRIUM_DEFAULT_PLAN == "free"


def test_a_plan_with_a_malformed_quota_is_refused_at_start(settings):
    good = settings.ATRIUM_PLANS
    for bad in ({"seats": -1}, {"products": "many"}, {"storage_bytes": 1.5}, {"seats": True}):
        settings.ATRIUM_PLANS = {**good, "free": {**good["free"], **bad}}
        with pytest.raises(ImproperlyConfigured, match="whole number"):
            plans.check_settings()
    settings.ATRIUM_PLANS = {**good, "free": {**good["free"], "disk": 1}}
    with pytest.raises(ImproperlyConfigured, match="optionally"):
        plans.check_settings()
    settings.ATRIUM_PLANS = {**good, "free": {**good["free"], "seats": None}}
    plans.check_settings()


@pytest.mark.django_db
def test_an_unknown_plan_is_refused_everywhere_a_plan_is_set(tenant_a):
    with pytest.raises(InvalidInput, match="Unknown plan 'gold'"):
        services.tenant_update(slug="alpha", plan="gold")
    with pytest.raises(InvalidInput, match="Unknown plan 'gold'"):
        provisioning.tenant_create(
            slug="gold-co", name="Gold", owner_email="o@gold.test", plan="gold"
        )
    with pytest.raises(CommandError, match="Unknown plan 'gold'; choose one of: free, pro"):
        call_command("tenants", "plan", "alpha", "gold", stdout=io.StringIO())
    with public_scope():
        assert Tenant.objects.get(slug="alpha").plan == "free"
        assert not Tenant.objects.filter(slug="gold-co").exists()


def test_new_tenants_get_the_free_plan(live_db):
    live_db.append("plan-new")
    tenant = provisioning.tenant_create(
        slug="plan-new", name="New", owner_email="owner@plan-new.test"
    ).tenant
    assert tenant.plan == "free"


# ----------------------------------------------------------------------------- quotas


@pytest.mark.django_db
def test_a_user_past_the_seat_quota_is_refused_with_the_limit_and_usage(
    settings, tenant_a, alpha_people
):
    seats = alpha_people["seats"]
    with_quota(settings, seats=seats + 1)
    admin = as_user(alpha_people["admin"])
    assert admin.post(USERS, {"email": "last@alpha.test"}).status_code == 201
    response = admin.post(USERS, {"email": "one-too-many@alpha.test"})
    assert response.status_code == 403
    assert response.json()["type"] == "client_error"
    error = error_of(response)
    assert (error["code"], error["resource"], error["limit"], error["usage"]) == (
        "quota_exceeded",
        "seats",
        seats + 1,
        seats + 1,
    )
    assert "free" in error["detail"] and str(seats + 1) in error["detail"]
    with tenant_scope(tenant_a), pytest.raises(QuotaExceeded):  # the admin form's check
        accounts.user_create_check(
            actor=alpha_people["owner"], email="form@alpha.test", role="member", password=None
        )
    # A deactivated user frees its seat; reactivating one past the quota is refused too.
    member = alpha_people["member"]
    assert admin.delete(f"{USERS}{member.pk}/").status_code == 204
    assert admin.post(USERS, {"email": "in-its-seat@alpha.test"}).status_code == 201
    response = admin.patch(f"{USERS}{member.pk}/", {"is_active": True}, format="json")
    assert response.status_code == 403 and error_of(response)["code"] == "quota_exceeded"
    with tenant_scope(tenant_a):
        assert not User.objects.get(pk=member.pk).is_active
        assert not User.objects.filter(email="one-too-many@alpha.test").exists()
    # On a plan without a seat quota, nothing is counted against it.
    with_quota(settings, seats=None)
    assert admin.post(USERS, {"email": "unlimited@alpha.test"}).status_code == 201


@pytest.fixture
def alpha_category(tenant_a):
    with tenant_scope(tenant_a):
        return catalog.category_create(name="Quota")


def _product(owner, category, n: int) -> dict:
    return {"name": f"Quota {n}", "sku": f"Q-{n}", "price": "9.50", "category": category.pk}


@pytest.mark.django_db
def test_products_past_the_quota_are_refused_on_create_and_restore(
    settings, tenant_a, alpha_people, alpha_category
):
    with tenant_scope(tenant_a):
        live = Product.objects.count()
    with_quota(settings, products=live + 1)
    owner = as_user(alpha_people["owner"])
    created = owner.post(PRODUCTS, _product(owner, alpha_category, 1), format="json")
    assert created.status_code == 201, created.json()
    response = owner.post(PRODUCTS, _product(owner, alpha_category, 2), format="json")
    assert response.status_code == 403
    error = error_of(response)
    assert (error["code"], error["resource"], error["limit"], error["usage"]) == (
        "quota_exceeded",
        "products",
        live + 1,
        live + 1,
    )
    # A deleted product frees its place; restoring it once another took it is refused.
    slug = created.json()["slug"]
    assert owner.delete(f"{PRODUCTS}{slug}/").status_code == 204
    assert owner.post(PRODUCTS, _product(owner, alpha_category, 3), format="json").status_code == (
        201
    )
    with tenant_scope(tenant_a):
        deleted = Product.all_objects.get(slug=slug)
        with pytest.raises(QuotaExceeded) as refused:
            catalog.product_restore(product=deleted)
        assert (refused.value.limit, refused.value.usage) == (live + 1, live + 1)
        assert Product.all_objects.get(slug=slug).is_deleted
        assert Product.objects.count() == live + 1


@pytest.mark.django_db
def test_an_import_past_the_product_quota_writes_nothing(
    settings, tenant_a, alpha_people, alpha_category, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant_a):
        live = Product.objects.count()
    with_quota(settings, products=live + 2)
    header = "sku,name,description,price,stock,status,category,tags\n"
    rows = "".join(f"IMP-{n},Imported {n},,1,1,active,{alpha_category.slug},\n" for n in range(3))
    owner = as_user(alpha_people["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        accepted = owner.post(
            "/api/v1/catalog/imports/",
            {"file": SimpleUploadedFile("p.csv", (header + rows).encode(), "text/csv")},
            format="multipart",
        )
    assert accepted.status_code == 202, accepted.json()
    job = owner.get(f"/api/v1/jobs/{accepted.json()['id']}/").json()
    assert job["status"] == "failed"
    assert job["error"]["rows"][0]["code"] == "quota_exceeded", job["error"]
    with tenant_scope(tenant_a):
        assert Product.objects.count() == live
    with_quota(settings, products=live + 3)  # room for all three: imported
    with django_capture_on_commit_callbacks(execute=True):
        accepted = owner.post(
            "/api/v1/catalog/imports/",
            {"file": SimpleUploadedFile("p.csv", (header + rows).encode(), "text/csv")},
            format="multipart",
        )
    assert owner.get(f"/api/v1/jobs/{accepted.json()['id']}/").json()["status"] == "succeeded"


def run_together(count: int, work) -> list:
    """``work(i)`` in ``count`` threads released at once, each on its own connection."""
    barrier = threading.Barrier(count)

    def runner(index: int):
        try:
            barrier.wait(timeout=30)
            return work(index)
        except Exception as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(runner, range(count)))


def test_creates_racing_at_the_limit_do_not_both_pass(settings, live_db):
    live_db.append("quota-race")
    tenant = provisioning.tenant_create(
        slug="quota-race", name="Race", owner_email="owner@quota-race.test"
    ).tenant
    with tenant_scope(tenant):
        owner = User.objects.get()
        category = catalog.category_create(name="Race")
    with_quota(settings, seats=2, products=1)  # one seat and one product left

    def invite(index: int):
        with tenant_scope(tenant):
            return accounts.user_create(actor=owner, email=f"racer{index}@quota-race.test")

    def create(index: int):
        with tenant_scope(tenant):
            return catalog.product_create(
                owner=owner,
                name=f"Race {index}",
                sku=f"R-{index}",
                price=Decimal(1),
                category=Category.objects.get(pk=category.pk),
            )

    for work, model in ((invite, User), (create, Product)):
        results = run_together(4, work)
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert len(refused) == 3, results
        assert {(r.limit, r.usage) for r in refused} == {(2, 2)} if model is User else {(1, 1)}
        with tenant_scope(tenant):
            count = (
                User.objects.filter(is_active=True).count()
                if model is User
                else Product.objects.count()
            )
        assert count == (2 if model is User else 1)


# ----------------------------------------------------------------------------- metering


def redis_value(key: str):
    return get_redis_connection("default").get(key)


@pytest.mark.django_db
def test_api_requests_and_their_users_are_metered_then_flushed_by_beat(
    tenant_a, tenant_b, alpha_people
):
    day = usage.today()
    requests_key, users_key = usage_keys = usage.usage_keys("alpha", day)
    assert requests_key == f"t:alpha:usage:{day:%Y%m%d}:requests"
    client = get_redis_connection("default")
    client.delete(*usage_keys, *usage.usage_keys("beta", day))
    for user in (alpha_people["owner"], alpha_people["member"], alpha_people["member"]):
        assert as_user(user).get("/api/v1/users/me/").status_code == 200
    APIClient(HTTP_HOST="alpha.localhost").get(PRODUCTS)  # anonymous: 401, still a request
    Client(HTTP_HOST="alpha.localhost").get("/healthz")  # not the API: not counted
    Client(HTTP_HOST="localhost").get("/api/schema/")  # the platform host: no tenant's
    assert int(redis_value(requests_key)) == 4
    assert client.pfcount(users_key) == 2
    assert 0 < client.ttl(requests_key) <= (settings_days() + 1) * 86400
    assert redis_value(usage.usage_keys("beta", day)[0]) is None  # beta used nothing

    # Beat's flush (the task, run eagerly) writes one row per active tenant and day.
    assert usage_flush.delay().get() >= 2
    with public_scope():
        row = TenantUsage.objects.get(tenant__slug="alpha", day=day)
        beta_row = TenantUsage.objects.get(tenant__slug="beta", day=day)
    with tenant_scope(tenant_a):
        seats = User.objects.filter(is_active=True).count()
        products = Product.objects.count()
    assert (row.api_requests, row.active_users, row.seats, row.products) == (
        4,
        2,
        seats,
        products,
    )
    assert row.storage_bytes > 0 and beta_row.api_requests == 0
    # A second flush rewrites the same row with the day's counters (no double count).
    as_user(alpha_people["owner"]).get("/api/v1/users/me/")
    usage_flush.delay().get()
    with public_scope():
        assert TenantUsage.objects.filter(tenant__slug="alpha", day=day).count() == 1
        assert TenantUsage.objects.get(tenant__slug="alpha", day=day).api_requests == 5


def settings_days() -> int:
    from atrium.conf import atrium_settings

    return atrium_settings.USAGE_REDIS_DAYS


@pytest.mark.django_db
def test_metering_fails_open_when_redis_is_away(alpha_people):
    with redis_down_settings():
        response = as_user(alpha_people["owner"]).get(USAGE)
    assert response.status_code == 200
    assert response.json()["plan"] == "free"


# ----------------------------------------------------------------------------- usage API


@pytest.mark.django_db
def test_usage_api_answers_owners_and_admins_with_the_plan_and_quotas(
    settings, tenant_a, alpha_people
):
    get_redis_connection("default").delete(*usage.usage_keys("alpha", usage.today()))
    owner = as_user(alpha_people["owner"])
    owner.get("/api/v1/users/me/")
    body = owner.get(USAGE).json()
    with tenant_scope(tenant_a):
        products = Product.objects.count()
    assert body == {
        "plan": "free",
        "period": usage.today().isoformat(),
        # The read of me/ and this one: counted with its throttles, before the view reads.
        "api_requests": 2,
        "active_users": 1,
        "seats": alpha_people["seats"],
        "products": products,
        "storage_bytes": body["storage_bytes"],
        "quotas": {"seats": 25, "products": 1000, "storage_bytes": 1024**3},
    }
    assert body["storage_bytes"] > 0
    assert as_user(alpha_people["admin"]).get(USAGE).status_code == 200
    refused = as_user(alpha_people["member"]).get(USAGE)
    assert refused.status_code == 403 and error_of(refused)["code"] == "permission_denied"
    anonymous = APIClient(HTTP_HOST="alpha.localhost").get(USAGE)
    assert anonymous.status_code == 401
    assert Client(HTTP_HOST="localhost").get(USAGE).status_code == 404  # the platform host


# ----------------------------------------------------------------------------- CLI


def test_cli_usage_plan_and_top(live_db):
    live_db.append("usage-cli")
    tenant = provisioning.tenant_create(
        slug="usage-cli",
        name="Usage",
        owner_email="owner@usage-cli.test",
        owner_password=OWNER_PASSWORD,
    ).tenant
    get_redis_connection("default").delete(*usage.usage_keys(tenant.schema_name, usage.today()))
    for _ in range(3):
        APIClient(HTTP_HOST="usage-cli.localhost").get(PRODUCTS)

    result = run_cli("tenants", "usage", "usage-cli", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("slug", "plan", "api_requests", "active_users", "seats")} == {
        "slug": "usage-cli",
        "plan": "free",
        "api_requests": 3,
        "active_users": 0,
        "seats": 1,
    }
    assert data["quotas"] == {"seats": 25, "products": 1000, "storage_bytes": 1024**3}
    text = run_cli("tenants", "usage", "usage-cli").stdout
    assert "api requests:  3" in text and "seats:         1 of 25" in text

    changed = run_cli("tenants", "plan", "usage-cli", "pro", "--json")
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout) == {
        "slug": "usage-cli",
        "plan": "pro",
        "previous": "free",
        "changed": True,
        "quotas": {"seats": 250, "products": 100_000, "storage_bytes": 50 * 1024**3},
    }
    again = run_cli("tenants", "plan", "usage-cli", "pro")
    assert "already on the pro plan" in again.stdout
    unknown = run_cli("tenants", "plan", "usage-cli", "gold")
    assert unknown.returncode == 1 and "Unknown plan 'gold'" in unknown.stderr
    assert "is on the pro plan" in run_cli("tenants", "plan", "usage-cli").stdout

    usage_flush.delay().get()
    top = run_cli("tenants", "usage", "--top", "20", "--json")
    assert top.returncode == 0, top.stderr
    rows = json.loads(top.stdout)
    assert len(rows) <= 20 and "usage-cli" in [row["slug"] for row in rows]
    counts = [row["api_requests"] for row in rows]
    assert counts == sorted(counts, reverse=True)
    ours = next(row for row in rows if row["slug"] == "usage-cli")
    assert (ours["plan"], ours["api_requests"]) == ("pro", 3)
    text = run_cli("tenants", "usage", "--top", "5").stdout
    assert text.splitlines()[0].split()[:3] == ["SLUG", "PLAN", "REQUESTS"]
    both = run_cli("tenants", "usage", "usage-cli", "--top", "5")
    assert both.returncode == 1 and "not both" in both.stderr

    # A purge takes the tenant's usage rows and counters along.
    with public_scope():
        assert TenantUsage.objects.filter(tenant__slug="usage-cli").exists()
    services.tenant_purge(slug="usage-cli")
    with public_scope():
        assert not TenantUsage.objects.filter(tenant_id=tenant.pk).exists()
    assert redis_value(usage.usage_keys(tenant.schema_name, usage.today())[0]) is None


# ----------------------------------------------------------------------------- every process


def test_a_plan_change_is_seen_by_a_running_server_on_its_next_request(live_db):
    live_db.append("plan-live")
    provisioning.tenant_create(
        slug="plan-live",
        name="Live",
        owner_email="owner@plan-live.test",
        owner_password=OWNER_PASSWORD,
    )
    host = "plan-live.localhost"
    with driver.Server() as server:
        token = server.login(host, "owner@plan-live.test", OWNER_PASSWORD)
        assert server.get(host, USAGE, token=token).json()["quotas"]["seats"] == 25
        changed = run_cli("tenants", "plan", "plan-live", "enterprise")
        assert changed.returncode == 0, changed.stderr
        body = server.get(host, USAGE, token=token).json()  # the very next request
        assert (body["plan"], body["quotas"]["seats"]) == ("enterprise", None)
