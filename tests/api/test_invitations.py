"""Invitations: who may invite whom, the mail and its token, accepting once, resend, revoke,
expiry, the status filter, and what bad input changes (nothing)."""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from atrium.platform.accounts.models import Role, User
from atrium.platform.invitations.models import Invitation
from atrium.tenants.context import tenant_scope
from config.settings.mail import mailer_from_url

URL = "/api/v1/invitations/"
ACCEPT = "/api/v1/auth/invitations/accept/"
HOST = "alpha.localhost"
PASSWORD = "Sturdy-Lantern-Orbit-77"
TOKEN_IN_LINK = re.compile(r"http://alpha\.localhost:8000/accept-invitation\?token=([\w-]+)")

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tenant_a):
    with tenant_scope(tenant_a):
        return {
            "owner": User.objects.get(email="owner@alpha.test"),
            "admin": User.objects.create_user(email="admin@alpha.test", role=Role.ADMIN),
            "member": User.objects.create_user(email="member@alpha.test", role=Role.MEMBER),
        }


@pytest.fixture
def mailed(django_capture_on_commit_callbacks, smtp_sink):
    """Run a request's after-commit work (the mail task, eager) and return the sink."""

    class Mailed:
        sink = smtp_sink

        def __call__(self):
            return django_capture_on_commit_callbacks(execute=True)

    return Mailed()


def as_user(user: User) -> APIClient:
    client = APIClient(HTTP_HOST=HOST)
    client.force_authenticate(user)
    return client


def anonymous(host: str = HOST) -> APIClient:
    return APIClient(HTTP_HOST=host)


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def invite(mailed, actor: User, email: str, role: str = "member") -> tuple[dict, str]:
    """Invite ``email``; returns the invitation's JSON and the token its mail carries."""
    with mailed():
        response = as_user(actor).post(URL, {"email": email, "role": role})
    assert response.status_code == 201, response.json()
    count = sum(1 for m in mailed.sink.messages if email.lower() in m["To"].lower())
    message = mailed.sink.wait_for(to=email, count=count)
    text = message.get_body(("plain",)).get_content()
    token = TOKEN_IN_LINK.search(text).group(1)
    return response.json(), token


def accept(token, name: str = "New Person", password: str = PASSWORD, host: str = HOST):
    return anonymous(host).post(ACCEPT, {"token": token, "name": name, "password": password})


def users(tenant) -> set[str]:
    with tenant_scope(tenant):
        return set(User.objects.values_list("email", flat=True))


def test_an_admin_invites_and_the_invited_accepts_with_the_role(people, mailed, tenant_a):
    body, token = invite(mailed, people["admin"], "Dana@Alpha.TEST", role="admin")
    assert (body["email"], body["role"], body["status"]) == ("dana@alpha.test", "admin", "pending")
    assert "token" not in body and "token_hash" not in body
    message = mailed.sink.wait_for(to="dana@alpha.test")
    assert "Alpha Ltd" in message["Subject"]
    assert message["From"].addresses[0].display_name == "Alpha Ltd"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"http://alpha.localhost:8000/accept-invitation?token={token}"
    assert link in text and f'href="{link}"' in html
    assert text.count(token) >= 2  # in the link and in plain text
    with tenant_scope(tenant_a):  # only the token's hash is stored
        stored = Invitation.objects.get(pk=body["id"])
        assert token not in stored.token_hash and len(stored.token_hash) == 64

    response = accept(token, name="Dana Scully")
    assert response.status_code == 201, response.json()
    pair = response.json()
    assert set(pair) == {"access", "refresh"}
    me = anonymous().get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["role"], me.json()["name"]) == (
        "dana@alpha.test",
        "admin",
        "Dana Scully",
    )
    assert me.json()["last_login"] is not None  # accepting signs the invited in
    login = anonymous().post(
        "/api/v1/auth/token/", {"email": "dana@alpha.test", "password": PASSWORD}
    )
    assert login.status_code == 200
    listing = as_user(people["admin"]).get(URL, {"status": "accepted"}).json()["results"]
    assert [(i["email"], i["status"]) for i in listing] == [("dana@alpha.test", "accepted")]

    # It works once: a second use changes nothing.
    again = accept(token, name="Mallory", password="Other-Sturdy-Pass-88")
    assert (again.status_code, codes(again)) == (400, ["invitation_used"])
    with tenant_scope(tenant_a):
        assert User.objects.get(email="dana@alpha.test").name == "Dana Scully"


def test_the_link_points_at_the_tenant_s_primary_domain(people, mailed, tenant_a):
    """A tenant whose primary domain is its own (not ``<slug>.<base>``): the link in the
    mail goes there. (Rolled back with the test, routing's caches untouched.)"""
    from atrium.tenants import services as tenant_services

    tenant_services.domain_add(slug=tenant_a.slug, domain="crm.alpha-corp.test", primary=True)
    with mailed():
        response = as_user(people["admin"]).post(URL, {"email": "far@alpha.test"})
    assert response.status_code == 201, response.json()
    text = mailed.sink.wait_for(to="far@alpha.test").get_body(("plain",)).get_content()
    assert "http://crm.alpha-corp.test:8000/accept-invitation?token=" in text
    assert "alpha.localhost" not in text


@pytest.mark.parametrize(
    ("actor", "role", "status", "code"),
    [
        ("member", "member", 403, "permission_denied"),
        ("admin", "owner", 403, "permission_denied"),
        ("admin", "admin", 201, None),
        ("owner", "owner", 201, None),
        ("admin", "emperor", 400, "invalid_choice"),
    ],
)
def test_only_admins_and_owners_invite_and_only_owners_invite_owners(
    people, mailed, tenant_a, actor, role, status, code
):
    with mailed():
        response = as_user(people[actor]).post(URL, {"email": "x@alpha.test", "role": role})
    assert response.status_code == status, response.json()
    with tenant_scope(tenant_a):
        assert Invitation.objects.filter(email="x@alpha.test").exists() == (status == 201)
    if code:
        assert code in codes(response)
        assert mailed.sink.messages == []
    else:
        mailed.sink.wait_for(to="x@alpha.test")


def test_members_cannot_list_resend_or_revoke(people, mailed):
    body, _ = invite(mailed, people["admin"], "y@alpha.test")
    member = as_user(people["member"])
    assert member.get(URL).status_code == 403
    assert member.post(f"{URL}{body['id']}/resend/").status_code == 403
    assert member.delete(f"{URL}{body['id']}/").status_code == 403
    assert anonymous().get(URL).status_code == 401


def test_an_owner_invitation_is_resent_or_revoked_by_owners_only(people, mailed):
    body, _ = invite(mailed, people["owner"], "co-owner@alpha.test", role="owner")
    admin = as_user(people["admin"])
    assert codes(admin.post(f"{URL}{body['id']}/resend/")) == ["permission_denied"]
    assert codes(admin.delete(f"{URL}{body['id']}/")) == ["permission_denied"]
    assert as_user(people["owner"]).delete(f"{URL}{body['id']}/").status_code == 204


@pytest.mark.parametrize("spelling", ["OWNER@alpha.test", "Owner@ALPHA.TEST", "owner@alpha.test"])
def test_an_address_with_an_account_in_any_spelling_is_already_a_member(
    people, mailed, tenant_a, spelling
):
    with mailed():
        response = as_user(people["admin"]).post(URL, {"email": spelling})
    assert (response.status_code, codes(response)) == (409, ["already_member"])
    with tenant_scope(tenant_a):
        assert not Invitation.objects.exists()
    assert mailed.sink.messages == []


def test_a_pending_invitation_blocks_a_second_until_it_expires(people, mailed, tenant_a):
    body, _ = invite(mailed, people["admin"], "twice@alpha.test")
    with mailed():
        second = as_user(people["owner"]).post(URL, {"email": "TWICE@alpha.test"})
    assert (second.status_code, codes(second)) == (409, ["already_invited"])
    assert body["id"] in second.json()["errors"][0]["detail"]  # says which one to resend
    with tenant_scope(tenant_a):
        Invitation.objects.filter(pk=body["id"]).update(expires_at=timezone.now())
    fresh, _ = invite(mailed, people["admin"], "twice@alpha.test")
    statuses = {i["id"]: i["status"] for i in as_user(people["admin"]).get(URL).json()["results"]}
    assert statuses == {body["id"]: "expired", fresh["id"]: "pending"}


def test_the_status_filter_knows_pending_accepted_expired_and_revoked(people, mailed, tenant_a):
    ids = {}
    tokens = {}
    for name in ("pending", "accepted", "expired", "revoked"):
        body, tokens[name] = invite(mailed, people["admin"], f"{name}@alpha.test")
        ids[name] = body["id"]
    assert accept(tokens["accepted"]).status_code == 201
    assert as_user(people["admin"]).delete(f"{URL}{ids['revoked']}/").status_code == 204
    with tenant_scope(tenant_a):
        Invitation.objects.filter(pk=ids["expired"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    admin = as_user(people["admin"])
    for status, expected in ids.items():
        found = admin.get(URL, {"status": status}).json()["results"]
        assert [(i["id"], i["status"]) for i in found] == [(expected, status)], status
    assert len(admin.get(URL).json()["results"]) == 4
    bad = admin.get(URL, {"status": "lost"})
    assert bad.status_code == 400
    # The expired token is refused, and so is the revoked one; nothing is made.
    assert codes(accept(tokens["expired"])) == ["invitation_expired"]
    assert codes(accept(tokens["revoked"])) == ["invitation_revoked"]
    assert {"expired@alpha.test", "revoked@alpha.test"}.isdisjoint(users(tenant_a))


def test_revoking_kills_the_token_and_only_a_pending_one_can_be_revoked(people, mailed):
    body, token = invite(mailed, people["admin"], "gone@alpha.test")
    admin = as_user(people["admin"])
    assert admin.delete(f"{URL}{body['id']}/").status_code == 204
    assert admin.get(f"{URL}{body['id']}/").json()["status"] == "revoked"
    again = admin.delete(f"{URL}{body['id']}/")
    assert (again.status_code, codes(again)) == (409, ["invitation_not_pending"])
    assert codes(admin.post(f"{URL}{body['id']}/resend/")) == ["invitation_not_pending"]
    assert codes(accept(token)) == ["invitation_revoked"]


def test_resend_mails_a_new_token_and_the_old_one_dies(people, mailed, tenant_a):
    body, old = invite(mailed, people["admin"], "late@alpha.test")
    with tenant_scope(tenant_a):  # expired: resending revives it with a new expiry
        Invitation.objects.filter(pk=body["id"]).update(expires_at=timezone.now())
    with mailed():
        response = as_user(people["admin"]).post(f"{URL}{body['id']}/resend/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending"
    text = mailed.sink.wait_for(to="late@alpha.test", count=2).get_body(("plain",)).get_content()
    new = TOKEN_IN_LINK.search(text).group(1)
    assert new != old
    assert codes(accept(old)) == ["invitation_invalid"]
    assert accept(new).status_code == 201


def test_the_ttl_setting_decides_the_expiry(people, mailed, settings, tenant_a):
    settings.ATRIUM_INVITATION_TTL = 120
    before = timezone.now()
    body, _ = invite(mailed, people["admin"], "ttl@alpha.test")
    with tenant_scope(tenant_a):
        expires = Invitation.objects.get(pk=body["id"]).expires_at
    assert before + timedelta(seconds=119) <= expires <= timezone.now() + timedelta(seconds=120)


@pytest.mark.parametrize(
    "token",
    ["", "x" * 129, 12345, None, "not-a-real-token", "A" * 43, "' OR 1=1 --"],
)
def test_malformed_or_unknown_tokens_are_refused_and_change_nothing(people, tenant_a, token):
    before = users(tenant_a)
    response = anonymous().post(ACCEPT, {"token": token, "name": "X", "password": PASSWORD})
    assert response.status_code == 400
    assert codes(response)[0] in {"invitation_invalid", "blank", "max_length", "invalid", "null"}
    assert users(tenant_a) == before


def test_unknown_fields_and_a_missing_password_are_refused(people, mailed, tenant_a):
    _, token = invite(mailed, people["admin"], "fields@alpha.test")
    client = anonymous()
    assert codes(client.post(ACCEPT, {"token": token, "name": "X"})) == ["required"]
    sneaky = {"token": token, "name": "X", "password": PASSWORD, "role": "owner"}
    assert codes(client.post(ACCEPT, sneaky)) == ["unknown_field"]
    assert "fields@alpha.test" not in users(tenant_a)


@pytest.mark.parametrize("password", ["password1234", "12345678901", "short"])
def test_a_weak_password_is_refused_and_the_invitation_stays_pending(
    people, mailed, tenant_a, password
):
    body, token = invite(mailed, people["admin"], "weak@alpha.test")
    response = accept(token, name="Weak", password=password)
    assert (response.status_code, codes(response)) == (400, ["password_too_weak"])
    assert response.json()["errors"][0]["attr"] == "password"
    assert "weak@alpha.test" not in users(tenant_a)
    assert as_user(people["admin"]).get(f"{URL}{body['id']}/").json()["status"] == "pending"
    assert accept(token, name="Weak").status_code == 201


def test_an_account_made_meanwhile_makes_the_invitation_already_a_member(people, mailed, tenant_a):
    _, token = invite(mailed, people["admin"], "race@alpha.test")
    with tenant_scope(tenant_a):
        User.objects.create_user(email="RACE@alpha.test", role=Role.MEMBER)
    response = accept(token)
    assert (response.status_code, codes(response)) == (409, ["already_member"])


def test_an_inviter_who_lost_the_right_to_invite_voids_the_invitation(people, mailed, tenant_a):
    _, token = invite(mailed, people["admin"], "orphan@alpha.test", role="admin")
    with tenant_scope(tenant_a):
        admin = User.objects.get(pk=people["admin"].pk)
        admin.apply_role(Role.MEMBER)
        admin.save()
    response = accept(token)
    assert (response.status_code, codes(response)) == (400, ["invitation_invalid"])
    assert "orphan@alpha.test" not in users(tenant_a)


def test_accepting_past_the_seat_quota_is_refused(people, mailed, tenant_a, settings):
    _, token = invite(mailed, people["admin"], "seat@alpha.test")
    with tenant_scope(tenant_a):
        seats = User.objects.filter(is_active=True).count()
    plans = {name: dict(plan) for name, plan in settings.ATRIUM_PLANS.items()}
    plans[tenant_a.plan]["seats"] = seats
    settings.ATRIUM_PLANS = plans
    response = accept(token)
    assert (response.status_code, codes(response)) == (403, ["quota_exceeded"])
    assert "seat@alpha.test" not in users(tenant_a)
    # And a new invitation gets the same early answer.
    with mailed():
        early = as_user(people["admin"]).post(URL, {"email": "seat2@alpha.test"})
    assert (early.status_code, codes(early)) == (403, ["quota_exceeded"])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_smtp_outage_never_loses_the_invitation(
    people, settings, django_capture_on_commit_callbacks, tenant_a, caplog
):
    """Eager mode: every retry fails at once. The invitation stands (and can be resent
    once the mail server is back); the loss is logged, not answered as an error."""
    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{_closed_port()}/?timeout=2")}
    with (
        caplog.at_level(logging.ERROR, logger="atrium.platform.mail"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = as_user(people["admin"]).post(URL, {"email": "outage@alpha.test"})
    assert response.status_code == 201
    with tenant_scope(tenant_a):
        assert Invitation.objects.get(pk=response.json()["id"]).status == "pending"
    assert any("could not queue invitations/invite" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("page_size", [1, 5])
def test_the_list_costs_the_same_queries_whatever_its_size(
    people, mailed, page_size, django_assert_max_num_queries
):
    for n in range(5):
        invite(mailed, people["admin"], f"n{n}@alpha.test")
    admin = as_user(people["admin"])
    with django_assert_max_num_queries(4):
        response = admin.get(URL, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size


def test_creating_revoking_and_accepting_are_audited_and_accepting_is_published(
    people, mailed, tenant_a, settings
):
    from atrium.platform.audit.models import AuditEvent
    from tests import events_capture

    settings.ATRIUM_EVENT_SINKS = ["tests.events_capture.record"]
    events_capture.clear()
    kept, token = invite(mailed, people["admin"], "audited@alpha.test", role="admin")
    dropped, _ = invite(mailed, people["owner"], "dropped@alpha.test")
    with mailed():
        assert as_user(people["owner"]).delete(f"{URL}{dropped['id']}/").status_code == 204
        response = accept(token, name="Audited")
    assert response.status_code == 201
    with tenant_scope(tenant_a):
        user = User.objects.get(email="audited@alpha.test")
        entries = list(
            AuditEvent.objects.filter(action__startswith="invitation.")
            .order_by("at")
            .values_list("action", "actor_id", "target_id")
        )
    assert entries == [
        ("invitation.created", str(people["admin"].pk), kept["id"]),
        ("invitation.created", str(people["owner"].pk), dropped["id"]),
        ("invitation.revoked", str(people["owner"].pk), dropped["id"]),
        ("invitation.accepted", str(user.pk), kept["id"]),  # the new account acted
    ]
    published = [event for _, event in events_capture.received if event.type.startswith("inv")]
    events_capture.clear()
    assert [(e.type, e.id) for e in published] == [("invitation.accepted", kept["id"])]
    assert published[0].data == {
        "email": "audited@alpha.test",
        "role": "admin",
        "user_id": str(user.pk),
        "invited_by": str(people["admin"].pk),
    }


def test_a_refused_acceptance_audits_and_publishes_nothing(people, mailed, tenant_a, settings):
    from atrium.platform.audit.models import AuditEvent
    from tests import events_capture

    settings.ATRIUM_EVENT_SINKS = ["tests.events_capture.record"]
    events_capture.clear()
    _, token = invite(mailed, people["admin"], "weakling@alpha.test")
    with mailed():
        assert accept(token, password="password1234").status_code == 400
    with tenant_scope(tenant_a):
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert "invitation.accepted" not in actions and "user.created" not in actions
    assert [e.type for _, e in events_capture.received] == []
