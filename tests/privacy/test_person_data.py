"""A person's data through the API: the export job (one JSON document of everything the
apps hold about them) and erasure (anonymised, revoked, de-identified; the last owner
stays), with who may do each."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Product, Review
from atrium.platform.accounts.models import Role, User, UserSession
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.platform.apikeys import services as api_keys
from atrium.platform.apikeys.models import APIKey
from atrium.platform.audit.models import AuditEvent
from atrium.platform.invitations import services as invitations
from atrium.platform.invitations.models import Invitation
from atrium.tenants.context import tenant_scope

ALPHA = "alpha.localhost"
PASSWORD = "Pat-Secret-Passphrase-91"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def world(tenant_a):
    """Pat (an admin with a review, a product, an API key and a session), the owner, a
    member, and an admin."""
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        pat = User.objects.create_with_role(
            "pat@alpha.test", role=Role.ADMIN, password=PASSWORD, name="Pat Doe"
        ).user
        member = User.objects.create_with_role("mem@alpha.test", role=Role.MEMBER).user
        admin = User.objects.create_with_role("ada@alpha.test", role=Role.ADMIN).user
        shelf = catalog.category_create(name="Shelf")
        product = catalog.product_create(
            owner=pat, name="Pat's Lamp", sku="PAT-1", price=Decimal("9.00"), category=shelf
        )
        other = catalog.product_create(
            owner=owner, name="Desk", sku="DESK-1", price=Decimal("90.00"), category=shelf
        )
        review = catalog.review_create(
            author=pat, product=other, rating=5, title="Pat loves it", body="Call me on 555-0101"
        )
        key = api_keys.api_key_create(actor=pat, name="Pat's script", scopes=["read"])
        tokens = token_pair_issue(user=pat)
    return {
        "tenant": tenant_a,
        "owner": owner,
        "pat": pat,
        "member": member,
        "admin": admin,
        "product": product,
        "review": review,
        "key": key,
        "tokens": tokens,
    }


def as_person(user: User) -> APIClient:
    client = APIClient(HTTP_HOST=ALPHA)
    client.force_authenticate(user)
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def export_url(user: User) -> str:
    return f"/api/v1/users/{user.pk}/data-export/"


def erase_url(user: User) -> str:
    return f"/api/v1/users/{user.pk}/erase/"


@pytest.mark.django_db
def test_the_export_is_one_json_document_of_everything_about_the_person(world, run_jobs):
    with run_jobs():
        accepted = as_person(world["admin"]).post(export_url(world["pat"]))
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["kind"] == "privacy.data_export"
    job = as_person(world["admin"]).get(f"/api/v1/jobs/{accepted.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    download = as_person(world["admin"]).get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/json"
    raw = b"".join(download.streaming_content).decode()
    document = json.loads(raw)
    assert document["format"] == "atrium.person-data/1"
    assert (document["tenant"], document["user_id"]) == ("alpha", str(world["pat"].pk))
    assert document["account"]["email"] == "pat@alpha.test"
    assert document["account"]["name"] == "Pat Doe"
    assert [r["title"] for r in document["reviews"]] == ["Pat loves it"]
    assert [p["sku"] for p in document["products"]] == ["PAT-1"]
    assert [k["prefix"] for k in document["api_keys"]] == [world["key"].api_key.prefix]
    assert len(document["sessions"]["api_refresh_tokens"]) == 1
    assert len(document["sessions"]["sign_ins"]) == 1
    # The audit entries where Pat acted (the key's creation), through the API or not.
    assert "api_key.created" in [entry["action"] for entry in document["audit_events"]]
    # Never a secret: not the key, its hash, or a password hash.
    with tenant_scope(world["tenant"]):
        stored = APIKey.objects.get(pk=world["key"].api_key.pk)
        password_hash = User.objects.get(pk=world["pat"].pk).password
    for secret in (world["key"].key, stored.hashed_key, password_hash, world["tokens"].refresh):
        assert secret not in raw
    # Only the other person's data: the owner's product is not in it.
    assert "DESK-1" not in raw


@pytest.mark.django_db
def test_the_person_themselves_may_export_others_may_not(world, run_jobs):
    with run_jobs():
        own = as_person(world["member"]).post(export_url(world["member"]))
    assert own.status_code == 202
    refused = as_person(world["member"]).post(export_url(world["pat"]))
    assert (refused.status_code, codes(refused)) == (403, ["permission_denied"])
    missing = as_person(world["admin"]).post(
        "/api/v1/users/00000000-0000-0000-0000-000000000000/data-export/"
    )
    assert missing.status_code == 404


@pytest.mark.django_db
def test_erasure_anonymises_revokes_and_de_identifies(world):
    pat, tenant = world["pat"], world["tenant"]
    key_client = APIClient(HTTP_HOST=ALPHA, HTTP_AUTHORIZATION=f"Api-Key {world['key'].key}")
    jwt_client = APIClient(HTTP_HOST=ALPHA, HTTP_AUTHORIZATION=f"Bearer {world['tokens'].access}")
    assert key_client.get("/api/v1/users/me/").status_code == 200
    assert jwt_client.get("/api/v1/users/me/").status_code == 200

    response = APIClient(HTTP_HOST=ALPHA)
    response.credentials(
        HTTP_AUTHORIZATION=f"Bearer {owner_access(world)}"
    )  # the owner, signed in for real
    erased = response.post(erase_url(pat))
    assert erased.status_code == 200, erased.content
    body = erased.json()
    assert body["id"] == str(pat.pk)
    assert body["email"] == f"erased-{pat.pk.hex}@erased.invalid"
    assert (body["name"], body["role"], body["is_active"]) == ("", "member", False)
    assert "pat" not in json.dumps(body).lower()

    with tenant_scope(tenant):
        row = User.objects.get(pk=pat.pk)
        assert not row.has_usable_password()
        assert not OutstandingToken.objects.filter(user=row).exists()
        assert not UserSession.objects.filter(user=row).exists()
        assert APIKey.objects.get(pk=world["key"].api_key.pk).revoked
        review = Review.all_objects.get(pk=world["review"].pk)
        assert (review.rating, review.title, review.body) == (5, "", "")
        assert Product.all_objects.get(pk=world["product"].pk).owner_id == pat.pk
    # Every credential is dead at once.
    assert codes(key_client.get("/api/v1/users/me/")) == ["api_key_invalid"]
    assert jwt_client.get("/api/v1/users/me/").status_code == 401
    refresh = APIClient(HTTP_HOST=ALPHA).post(
        "/api/v1/auth/token/refresh/", {"refresh": world["tokens"].refresh}, format="json"
    )
    assert refresh.status_code == 401
    # The audit log: one user.erased entry without personal data, and the entries about
    # Pat pseudonymised (ids kept).
    with tenant_scope(tenant):
        erased_entry = AuditEvent.objects.get(action="user.erased")
        assert (erased_entry.target_id, erased_entry.target_label) == (str(pat.pk), "erased user")
        assert erased_entry.actor_id == str(world["owner"].pk)
        about_pat = AuditEvent.objects.filter(actor_id=str(pat.pk))
        assert about_pat.exists()
        trail = [e.__dict__ for e in AuditEvent.objects.all()]
    assert "pat@alpha.test" not in str(trail) and "Pat Doe" not in str(trail)
    assert erased_entry.metadata["counts"]["api_keys"] == {"revoked": 1}
    assert erased_entry.metadata["counts"]["reviews"] == {"de_identified": 1}
    for email in ("pat@alpha.test", body["email"]):
        login = APIClient(HTTP_HOST=ALPHA).post(
            "/api/v1/auth/token/", {"email": email, "password": PASSWORD}, format="json"
        )
        assert login.status_code == 401


def owner_access(world) -> str:
    with tenant_scope(world["tenant"]):
        return token_pair_issue(user=world["owner"]).access


@pytest.mark.django_db
def test_who_may_erase_whom_and_the_last_owner(world):
    owner, admin, member, pat = world["owner"], world["admin"], world["member"], world["pat"]
    refused = as_person(member).post(erase_url(pat))
    assert (refused.status_code, codes(refused)) == (403, ["permission_denied"])
    refused = as_person(admin).post(erase_url(owner))
    assert (refused.status_code, codes(refused)) == (403, ["permission_denied"])
    admin_key = APIClient(
        HTTP_HOST=ALPHA,
        HTTP_AUTHORIZATION="Api-Key " + erase_key(world, scopes=["read", "write", "admin"]),
    )
    refused = admin_key.post(erase_url(member))
    assert (refused.status_code, codes(refused)) == (403, ["person_required"])
    last = as_person(owner).post(erase_url(owner))
    assert (last.status_code, codes(last)) == (409, ["last_owner"])
    with tenant_scope(world["tenant"]):
        assert User.objects.get(pk=owner.pk).email == "owner@alpha.test"
        assert User.objects.get(pk=member.pk).is_active
    # An admin erases a member; with a second owner, an owner can be erased.
    assert as_person(admin).post(erase_url(member)).status_code == 200
    promoted = as_person(owner).patch(f"/api/v1/users/{pat.pk}/", {"role": "owner"})
    assert promoted.status_code == 200
    with tenant_scope(world["tenant"]):
        pat = User.objects.get(pk=pat.pk)
    assert as_person(pat).post(erase_url(owner)).status_code == 200


def erase_key(world, scopes: list[str]) -> str:
    with tenant_scope(world["tenant"]):
        return api_keys.api_key_create(actor=world["owner"], name="erase", scopes=scopes).key


@pytest.mark.django_db
def test_invitations_and_the_entries_that_name_the_person_by_e_mail(world, run_jobs):
    """Invitations sent and received are in the export; erasure revokes those still pending
    and replaces the e-mail on each, and the audit entries that carry the e-mail without an
    id (a failed sign-in typed with it, an invitation to it) lose it too."""
    owner, pat, tenant = world["owner"], world["pat"], world["tenant"]
    with tenant_scope(tenant):
        sent = invitations.invitation_create(actor=pat, email="newbie@alpha.test")
        received = invitations.invitation_create(actor=owner, email="quinn@alpha.test")
        quinn = User.objects.create_with_role("quinn@alpha.test", role=Role.MEMBER).user
    failed = APIClient(HTTP_HOST=ALPHA).post(
        "/api/v1/auth/token/", {"email": "quinn@alpha.test", "password": "wrong"}, format="json"
    )
    assert failed.status_code == 401

    def exported(user: User) -> dict:
        with run_jobs():
            accepted = as_person(owner).post(export_url(user))
        job = as_person(owner).get(f"/api/v1/jobs/{accepted.json()['id']}/").json()
        download = as_person(owner).get(job["download_url"])
        return json.loads(b"".join(download.streaming_content))

    document = exported(quinn)
    assert [i["id"] for i in document["invitations"]["received"]] == [str(received.pk)]
    assert document["invitations"]["received"][0]["status"] == "pending"
    assert document["invitations"]["sent"] == []
    actions = {entry["action"] for entry in document["audit_events"]}
    assert {"invitation.created", "auth.login_failed"} <= actions
    assert [i["email"] for i in exported(pat)["invitations"]["sent"]] == ["newbie@alpha.test"]

    assert as_person(owner).post(erase_url(quinn)).status_code == 200
    with tenant_scope(tenant):
        received = Invitation.objects.get(pk=received.pk)
        assert received.email == f"erased-{quinn.pk.hex}@erased.invalid"
        assert received.revoked_at is not None
        assert Invitation.objects.get(pk=sent.pk).email == "newbie@alpha.test"  # not Quinn's
        erased_entry = AuditEvent.objects.get(action="user.erased")
        trail = [e.__dict__ for e in AuditEvent.objects.all()]
    assert "quinn@alpha.test" not in str(trail)
    assert erased_entry.metadata["counts"]["invitations"] == {"revoked": 1, "anonymised": 1}
