"""API keys: creation (shown once, hashed), listing without secrets, revocation, scopes,
the creator-bounded role, expiry, throttling under the key, and bad input."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.platform.apikeys import services as api_keys
from atrium.platform.apikeys.models import APIKey
from atrium.tenants.context import tenant_scope

ALPHA, BETA = "alpha.localhost", "beta.localhost"
URL = "/api/v1/api-keys/"
KEY_FORM = re.compile(r"^atr_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$")


@pytest.fixture
def people(tenant_a):
    with tenant_scope(tenant_a):
        return {
            "owner": User.objects.get(email="owner@alpha.test"),
            "admin": User.objects.create_user(email="admin@alpha.test", role=Role.ADMIN),
            "member": User.objects.create_user(email="member@alpha.test", role=Role.MEMBER),
        }


def person(user: User, host: str = ALPHA) -> APIClient:
    """A client signed in as ``user`` with a real bearer token of its tenant."""
    client = APIClient(HTTP_HOST=host)
    with tenant_scope(user_tenant(host)):
        access = token_pair_issue(user=user).access
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def user_tenant(host: str):
    from atrium.tenants.models import Tenant

    return Tenant.objects.get(slug=host.split(".")[0])


def with_key(key: str, host: str = ALPHA) -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def make_key(user: User, scopes: list[str], **extra) -> dict:
    response = person(user).post(URL, {"name": "ci", "scopes": scopes, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


@pytest.mark.django_db
def test_created_key_is_shown_once_stored_hashed_and_listed_without_secret(people, tenant_a):
    body = make_key(people["admin"], ["read", "write"], expires_at="2099-01-01T00:00:00Z")
    assert KEY_FORM.match(body["key"]), body["key"]
    assert body["prefix"] == body["key"].split("_")[1]
    assert (body["scopes"], body["created_by"]) == (["read", "write"], str(people["admin"].pk))
    assert body["expires_at"] == "2099-01-01T00:00:00Z"
    with tenant_scope(tenant_a):
        stored = APIKey.objects.get(pk=body["id"])
    assert stored.hashed_key.startswith("sha512$$")
    assert body["key"] not in stored.hashed_key and body["key"].split("_")[2] not in str(
        stored.__dict__
    )
    listing = person(people["owner"]).get(URL).json()
    assert [k["id"] for k in listing["results"]] == [body["id"]]
    listed = listing["results"][0]
    assert set(listed) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
    }
    detail = person(people["owner"]).get(f"{URL}{body['id']}/")
    assert "key" not in detail.json() and body["key"] not in detail.content.decode()


@pytest.mark.django_db
def test_a_key_acts_as_its_creator_capped_by_its_scopes(people):
    owner_read = make_key(people["owner"], ["read"])["key"]
    me = with_key(owner_read).get("/api/v1/users/me/")
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["role"]) == (str(people["owner"].pk), "member")
    owner_admin = make_key(people["owner"], ["read", "write", "admin"])["key"]
    assert with_key(owner_admin).get("/api/v1/users/me/").json()["role"] == "admin"
    # An admin-scoped key manages users as an admin, never as an owner.
    created = with_key(owner_admin).post(
        "/api/v1/users/", {"email": "bot-made@alpha.test"}, format="json"
    )
    assert created.status_code == 201, created.content
    as_owner = with_key(owner_admin).post(
        "/api/v1/users/", {"email": "o2@alpha.test", "role": "owner"}, format="json"
    )
    assert as_owner.status_code == 403
    assert codes(as_owner) == ["permission_denied"]


@pytest.mark.django_db
def test_methods_and_routes_outside_the_scopes_are_insufficient_scope(people):
    read_only = make_key(people["admin"], ["read"])["key"]
    write_only = make_key(people["admin"], ["write"])["key"]
    no_admin = make_key(people["admin"], ["read", "write"])["key"]
    refused = with_key(read_only).post("/api/v1/users/", {"email": "x@alpha.test"}, format="json")
    assert (refused.status_code, codes(refused)) == (403, ["insufficient_scope"])
    refused = with_key(write_only).get("/api/v1/users/")
    assert (refused.status_code, codes(refused)) == (403, ["insufficient_scope"])
    # The creator is an admin, the key lacks the admin scope: admin routes say so.
    refused = with_key(no_admin).post("/api/v1/users/", {"email": "x@alpha.test"}, format="json")
    assert (refused.status_code, codes(refused)) == (403, ["insufficient_scope"])
    # Member-level writes are within read+write.
    assert with_key(no_admin).patch("/api/v1/users/me/", {"name": "Bot"}).status_code == 200
    with tenant_scope(user_tenant(ALPHA)):
        assert not User.objects.filter(email="x@alpha.test").exists()


@pytest.mark.django_db
def test_the_key_follows_its_creator_at_once(people, tenant_a):
    key = make_key(people["admin"], ["read", "write", "admin"])["key"]
    assert with_key(key).get("/api/v1/users/me/").json()["role"] == "admin"
    demoted = person(people["owner"]).patch(
        f"/api/v1/users/{people['admin'].pk}/", {"role": "member"}, format="json"
    )
    assert demoted.status_code == 200
    assert with_key(key).get("/api/v1/users/me/").json()["role"] == "member"
    refused = with_key(key).post("/api/v1/users/", {"email": "x@alpha.test"}, format="json")
    assert (refused.status_code, codes(refused)) == (403, ["permission_denied"])
    person(people["owner"]).delete(f"/api/v1/users/{people['admin'].pk}/")
    gone = with_key(key).get("/api/v1/users/me/")
    assert (gone.status_code, codes(gone)) == (401, ["user_inactive"])


@pytest.mark.django_db
def test_revoked_and_expired_keys_stop_working_at_once(people, tenant_a):
    created = make_key(people["admin"], ["read"])
    client = with_key(created["key"])
    assert client.get("/api/v1/users/me/").status_code == 200
    revoke = person(people["owner"]).delete(f"{URL}{created['id']}/")
    assert revoke.status_code == 204
    refused = client.get("/api/v1/users/me/")
    assert (refused.status_code, codes(refused)) == (401, ["api_key_invalid"])
    assert refused["WWW-Authenticate"]  # a 401 says how to authenticate
    assert person(people["owner"]).get(URL).json()["results"] == []
    assert person(people["owner"]).delete(f"{URL}{created['id']}/").status_code == 404
    with tenant_scope(tenant_a):
        assert APIKey.objects.get(pk=created["id"]).revoked_at is not None

    expiring = make_key(people["admin"], ["read"], expires_at="2099-01-01T00:00:00Z")
    assert with_key(expiring["key"]).get("/api/v1/users/me/").status_code == 200
    with tenant_scope(tenant_a):
        APIKey.objects.filter(pk=expiring["id"]).update(
            expiry_date=timezone.now() - timedelta(seconds=1)
        )
    refused = with_key(expiring["key"]).get("/api/v1/users/me/")
    assert (refused.status_code, codes(refused)) == (401, ["api_key_invalid"])


@pytest.mark.django_db
def test_malformed_wrong_and_foreign_keys_are_401(people, tenant_a, tenant_b):
    key = make_key(people["admin"], ["read"])["key"]
    prefix = key.split("_")[1]
    wrong_secret = f"atr_{prefix}_{'A' * 32}"
    for bad in ("garbage", "atr_x_y", key + "x", wrong_secret, key.replace("atr_", "xyz_")):
        response = with_key(bad).get("/api/v1/users/me/")
        assert (response.status_code, codes(response)) == (401, ["api_key_invalid"]), bad
    two_parts = APIClient(HTTP_HOST=ALPHA, HTTP_AUTHORIZATION=f"Api-Key {key} extra")
    assert codes(two_parts.get("/api/v1/users/me/")) == ["bad_authorization_header"]
    # Another tenant: the key is unknown in its schema.
    foreign = with_key(key, BETA).get("/api/v1/users/me/")
    assert (foreign.status_code, codes(foreign)) == (401, ["api_key_invalid"])
    # Even its exact row copied into the other tenant's schema (an archive restored there,
    # or a purged tenant re-created): the hash is bound to the tenant's id.
    with tenant_scope(tenant_a):
        row = APIKey.objects.get(prefix=prefix)
    with tenant_scope(tenant_b):
        owner_b = User.objects.get(email="owner@beta.test")
        APIKey.objects.create(
            name=row.name,
            prefix=row.prefix,
            hashed_key=row.hashed_key,
            scopes=row.scopes,
            created_by=owner_b,
        )
    copied = with_key(key, BETA).get("/api/v1/users/me/")
    assert (copied.status_code, codes(copied)) == (401, ["api_key_invalid"])
    assert with_key(key).get("/api/v1/users/me/").status_code == 200


@pytest.mark.django_db
def test_last_used_at_is_written_at_most_once_a_minute(people, tenant_a):
    created = make_key(people["admin"], ["read"])
    assert created["last_used_at"] is None
    client = with_key(created["key"])
    client.get("/api/v1/users/me/")
    with tenant_scope(tenant_a):
        first = APIKey.objects.get(pk=created["id"]).last_used_at
    assert first is not None
    client.get("/api/v1/users/me/")
    with tenant_scope(tenant_a):
        assert APIKey.objects.get(pk=created["id"]).last_used_at == first
        APIKey.objects.filter(pk=created["id"]).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/users/me/")
    with tenant_scope(tenant_a):
        assert APIKey.objects.get(pk=created["id"]).last_used_at > first


@pytest.mark.django_db
def test_a_key_is_throttled_under_its_own_key_not_its_creators(people, settings):
    settings.ATRIUM_RATE_LIMITS = {
        plan: {"burst": "3/10s", "sustained": "100/h"} for plan in settings.ATRIUM_PLANS
    }
    key = make_key(people["admin"], ["read"])["key"]
    statuses = [with_key(key).get("/api/v1/users/me/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # The creator's own budget is untouched by the key's requests.
    assert person(people["admin"]).get("/api/v1/users/me/").status_code == 200


@pytest.mark.django_db
def test_only_people_who_are_admins_manage_keys(people):
    member = person(people["member"])
    assert member.get(URL).status_code == 403
    assert member.post(URL, {"name": "x", "scopes": ["read"]}, format="json").status_code == 403
    # A key, even an admin-scoped one, cannot list, mint or revoke keys.
    key = make_key(people["owner"], ["read", "write", "admin"])
    for response in (
        with_key(key["key"]).get(URL),
        with_key(key["key"]).post(URL, {"name": "x", "scopes": ["read"]}, format="json"),
        with_key(key["key"]).delete(f"{URL}{key['id']}/"),
    ):
        assert (response.status_code, codes(response)) == (403, ["person_required"])
    assert with_key(key["key"]).get("/api/v1/users/me/").status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "scopes": ["read", "root"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": "read"}, "scopes"),
        ({"name": "x"}, "scopes"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["read"], "expires_at": "soon"}, "expires_at"),
        ({"name": "x", "scopes": ["read"], "created_by": "someone"}, "created_by"),
        ({"name": 42, "scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": [1]}, "scopes"),
    ],
)
@pytest.mark.django_db
def test_bad_input_is_400_and_writes_nothing(people, tenant_a, payload, field):
    response = person(people["admin"]).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert any(
        error["attr"] == field or (error["attr"] or "").startswith(f"{field}.")
        for error in response.json()["errors"]
    ), response.json()
    with tenant_scope(tenant_a):
        assert APIKey.objects.count() == 0


def test_the_api_key_authentication_is_installed():
    assert (
        "atrium.platform.apikeys.authentication.ApiKeyAuthentication"
        in settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    )


@pytest.mark.django_db
def test_created_and_revoked_events_match_their_schema_and_carry_no_secret(
    people, settings, django_capture_on_commit_callbacks
):
    from tests import events_capture

    settings.ATRIUM_EVENT_SINKS = ["tests.events_capture.record"]
    events_capture.clear()
    with django_capture_on_commit_callbacks(execute=True):
        created = make_key(people["admin"], ["read", "admin"])
    with django_capture_on_commit_callbacks(execute=True):
        person(people["owner"]).delete(f"{URL}{created['id']}/")
    events = [event for _, event in events_capture.received if event.type.startswith("api_key.")]
    events_capture.clear()
    assert [event.type for event in events] == ["api_key.created", "api_key.revoked"]
    for event in events:
        assert event.id == created["id"]
        assert event.user_id == str(people["admin"].pk)
        assert event.data == {
            "name": "ci",
            "prefix": created["prefix"],
            "scopes": ["read", "admin"],
            "created_by": str(people["admin"].pk),
            "expires_at": None,
        }
        assert created["key"].split("_")[2] not in str(event.envelope())


@pytest.mark.django_db
def test_the_access_log_names_the_key(people, caplog):
    created = make_key(people["admin"], ["read"])
    caplog.clear()
    with caplog.at_level("INFO", logger="atrium.access"):
        assert with_key(created["key"]).get("/api/v1/users/me/").status_code == 200
        person(people["admin"]).get("/api/v1/users/me/")
    lines = [record for record in caplog.records if record.name == "atrium.access"]
    assert [str(record.api_key_id) for record in lines] == [created["id"], "None"]
    assert [record.user_id for record in lines] == [str(people["admin"].pk)] * 2


def test_a_key_is_refused_after_its_tenant_is_purged_and_re_created(live_db):
    """Even with its row restored into the new schema: the hash is of the old tenant's id."""
    from atrium.tenants import provisioning
    from atrium.tenants import services as tenants

    slug = f"keys-{uuid.uuid4().hex[:6]}"

    def create():
        provisioning.tenant_create(slug=slug, name="Keys Co", owner_email=f"owner@{slug}.test")
        if slug not in live_db:
            live_db.append(slug)
        tenant = tenants.tenant_get(slug)
        with tenant_scope(tenant):
            return tenant, User.objects.get()

    tenant, owner = create()
    with tenant_scope(tenant):
        created = api_keys.api_key_create(actor=owner, name="old", scopes=["read"])
        row = {
            field: getattr(created.api_key, field)
            for field in ("id", "name", "prefix", "hashed_key", "scopes")
        }
    host = f"{slug}.localhost"
    assert with_key(created.key, host).get("/api/v1/users/me/").status_code == 200
    tenants.tenant_purge(slug=slug)
    tenant, owner = create()
    refused = with_key(created.key, host).get("/api/v1/users/me/")
    assert (refused.status_code, codes(refused)) == (401, ["api_key_invalid"])
    with tenant_scope(tenant):
        APIKey.objects.create(created_by=owner, **row)
    refused = with_key(created.key, host).get("/api/v1/users/me/")
    assert (refused.status_code, codes(refused)) == (401, ["api_key_invalid"])


@pytest.mark.django_db
def test_creation_and_revocation_are_audited_and_a_keys_writes_name_the_key(people, tenant_a):
    from atrium.platform.audit.models import AuditEvent

    created = make_key(people["admin"], ["read", "write"])
    with_key(created["key"]).patch("/api/v1/users/me/", {"name": "Bot"}, format="json")
    person(people["owner"]).delete(f"{URL}{created['id']}/")
    with tenant_scope(tenant_a):
        entries = list(
            AuditEvent.objects.filter(action__startswith="api_key.").order_by("at", "id")
        )
    assert [(e.action, e.actor_id, e.target_id) for e in entries] == [
        ("api_key.created", str(people["admin"].pk), created["id"]),
        ("api_key.revoked", str(people["owner"].pk), created["id"]),
    ]
    assert entries[0].metadata["scopes"] == ["read", "write"]
    for entry in entries:
        assert created["key"].split("_")[2] not in str(entry.__dict__)
