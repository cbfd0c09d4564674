"""What records what: the auth layer, the user services and every catalog write, each in its
write's transaction (a refused or rolled-back write leaves no entry)."""

import io
from decimal import Decimal

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Product
from atrium.errors import AtriumError
from atrium.platform.accounts import services as accounts
from atrium.platform.accounts.models import Role, User
from atrium.platform.audit.models import AuditEvent
from atrium.tenants.context import tenant_scope
from tests.fixtures import OWNER_PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
LOGOUT_URL = "/api/v1/auth/logout/"


def entries(tenant, **filters) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(**filters).order_by("at", "id"))


def actions(tenant) -> list[str]:
    return [entry.action for entry in entries(tenant)]


@pytest.mark.django_db
def test_sign_in_failure_lockout_and_logout(tenant_a, settings):
    settings.ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "3/min", "per_ip": "100/min"}
    client = APIClient(HTTP_HOST="alpha.localhost", REMOTE_ADDR="192.0.2.9")
    signed_in = client.post(TOKEN_URL, {"email": "Owner@Alpha.test", "password": OWNER_PASSWORD})
    assert signed_in.status_code == 200
    [login] = entries(tenant_a, action="auth.login")
    assert (login.actor_label, login.target_label, login.ip) == (
        "owner@alpha.test",
        "owner@alpha.test",
        "192.0.2.9",
    )
    assert login.metadata == {"via": "api"}
    for _ in range(2):
        assert (
            client.post(TOKEN_URL, {"email": "owner@alpha.test", "password": "no"}).status_code
            == 401
        )
    failed = entries(tenant_a, action="auth.login_failed")
    assert len(failed) == 2
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
    assert {(f.target_id, f.actor_label, f.actor_id) for f in failed} == {
        (str(owner.pk), "owner@alpha.test", "")
    }
    assert all("no" not in str(f.metadata) + str(f.changes) for f in failed)  # no password
    # An e-mail nobody has: recorded without a target id.
    client.post(TOKEN_URL, {"email": "ghost@alpha.test", "password": "x"})
    assert (
        entries(tenant_a, action="auth.login_failed", target_label="ghost@alpha.test")[0].target_id
        == ""
    )
    # Past the limit: refused, and the lockout is recorded once, however often it is hit.
    statuses = [
        client.post(TOKEN_URL, {"email": "owner@alpha.test", "password": "no"}).status_code
        for _ in range(6)
    ]
    assert statuses.count(429) >= 3, statuses
    [lockout] = entries(tenant_a, action="auth.lockout")
    assert lockout.target_label == "owner@alpha.test"
    assert lockout.metadata["retry_after"] >= 1
    logout = client.post(LOGOUT_URL, {"refresh": signed_in.json()["refresh"]})
    assert logout.status_code == 204
    [out] = entries(tenant_a, action="auth.logout")
    assert (out.actor_id, out.target_id) == (str(owner.pk), str(owner.pk))


@pytest.mark.django_db
def test_user_services_record_creation_role_changes_and_deactivation(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        created = accounts.user_create(actor=owner, email="new@alpha.test", role=Role.MEMBER)
        user = created.user
        accounts.user_update(actor=owner, user=user, role=Role.ADMIN)
        accounts.user_update(actor=owner, user=user, name="Newt")
        accounts.user_deactivate(actor=owner, user=user)
        accounts.user_update(actor=owner, user=user, is_active=True)
        # Refused (the last owner): nothing recorded.
        with pytest.raises(AtriumError):
            accounts.user_update(actor=owner, user=owner, role=Role.MEMBER)
    recorded = entries(tenant_a, target_id=str(user.pk))
    assert [(e.action, e.changes) for e in recorded] == [
        ("user.created", {}),
        ("user.role_changed", {"role": ["member", "admin"]}),
        ("user.updated", {"name": ["", "Newt"]}),
        ("user.deactivated", {"is_active": [True, False]}),
        ("user.reactivated", {"is_active": [False, True]}),
    ]
    assert {e.actor_id for e in recorded} == {str(owner.pk)}
    assert not entries(tenant_a, target_id=str(owner.pk))


@pytest.mark.django_db
def test_every_catalog_write_is_recorded_with_its_changes(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        garden = catalog.category_create(name="Garden")
        catalog.category_update(category=garden, description="Outdoors")
        product = catalog.product_create(
            owner=owner, name="Skates", sku="SK-1", price=Decimal("10.00"), category=garden
        )
        catalog.product_update(product=product, price=Decimal("12.50"), name="Skates")
        review = catalog.review_create(author=owner, product=product, rating=4, title="Good")
        catalog.review_update(review=review, rating=5)
        catalog.review_delete(review=review)
        catalog.review_restore(review=review)
        catalog.product_delete(product=product)
        catalog.product_restore(product=product)
        spare = catalog.category_create(name="Spare")
        catalog.category_delete(category=spare)
        catalog.category_restore(category=spare)
    assert actions(tenant_a) == [
        "category.created",
        "category.updated",
        "product.created",
        "product.updated",
        "review.created",
        "review.updated",
        "review.deleted",
        "review.restored",
        "product.deleted",
        "product.restored",
        "category.created",
        "category.deleted",
        "category.restored",
    ]
    [update] = entries(tenant_a, action="product.updated")
    # Only what changed (the name was sent unchanged), values as JSON.
    assert update.changes == {"price": ["10.00", "12.50"]}
    assert (update.target_type, update.target_id, update.target_label) == (
        "catalog.product",
        str(product.pk),
        "Skates",
    )
    assert entries(tenant_a, action="review.updated")[0].changes == {"rating": [4, 5]}
    assert entries(tenant_a, action="category.updated")[0].changes == {
        "description": ["", "Outdoors"]
    }


@pytest.mark.django_db
def test_a_refused_or_rolled_back_write_leaves_no_entry(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        garden = catalog.category_create(name="Garden")
        catalog.product_create(
            owner=owner, name="Skates", sku="SK-1", price=Decimal("10.00"), category=garden
        )
        with pytest.raises(AtriumError):  # the SKU is taken: refused inside the service
            catalog.product_create(
                owner=owner, name="Other", sku="sk-1", price=Decimal("1.00"), category=garden
            )
        with pytest.raises(RuntimeError), transaction.atomic():  # the caller rolls back
            catalog.product_create(
                owner=owner, name="Ghost", sku="GH-1", price=Decimal("1.00"), category=garden
            )
            raise RuntimeError
        assert list(Product.objects.values_list("sku", flat=True)) == ["SK-1"]
    assert actions(tenant_a) == ["category.created", "product.created"]


@pytest.mark.django_db
def test_an_import_is_recorded_as_its_creator_row_by_row_and_as_a_whole(
    tenant_a, file_storage, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant_a):
        catalog.category_create(name="Garden")
        owner = User.objects.get(email="owner@alpha.test")
    client = APIClient(HTTP_HOST="alpha.localhost")
    client.force_authenticate(owner)
    upload = io.BytesIO(
        b"sku,name,description,price,stock,status,category,tags\n"
        b"A-1,Anvil,,10.00,1,active,garden,\nB-1,Bell,,2.00,1,active,garden,\n"
    )
    upload.name = "products.csv"
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post("/api/v1/catalog/imports/", {"file": upload}, format="multipart")
    assert accepted.status_code == 202
    recorded = entries(tenant_a, action__in=["product.created", "catalog.imported"])
    assert [e.action for e in recorded] == [
        "product.created",
        "product.created",
        "catalog.imported",
    ]
    assert {(e.actor_type, e.actor_id) for e in recorded} == {("user", str(owner.pk))}
    assert recorded[-1].metadata == {"created": 2, "updated": 0}
    assert recorded[-1].target_id == accepted.json()["id"]
