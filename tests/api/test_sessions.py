"""A user's sessions through the HTTP API: one per sign-in, continued by each refresh, listed
with their client, and revoked one at a time (``GET/DELETE /api/v1/auth/sessions/``)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from atrium.platform.accounts.models import User, UserSession
from atrium.tenants.context import tenant_scope

ALPHA, BETA = "alpha.localhost", "beta.localhost"
PASSWORD = "Tr0ub4dor-and-3-horses"
SESSIONS = "/api/v1/auth/sessions/"
TOKEN, REFRESH = "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"


def api(token: str | None = None, host: str = ALPHA, **extra) -> APIClient:
    client = APIClient(HTTP_HOST=host, **extra)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def sign_in(email: str, agent: str, address: str, host: str = ALPHA) -> dict:
    client = api(host=host, HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    response = client.post(TOKEN, {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def make_user(tenant, email: str) -> User:
    with tenant_scope(tenant):
        return User.objects.create_user(email=email, password=PASSWORD)


@pytest.fixture
def dana(tenant_a) -> User:
    return make_user(tenant_a, "dana@alpha.test")


@pytest.mark.django_db
def test_each_sign_in_is_a_session_listed_with_its_client(dana):
    laptop = sign_in(dana.email, "Firefox/140 on a laptop", "203.0.113.7")
    phone = sign_in(dana.email, "Mobile Safari", "198.51.100.9")
    response = api(laptop["access"]).get(SESSIONS)
    assert response.status_code == 200, response.content
    sessions = response.json()
    assert [(s["user_agent"], s["ip_address"], s["current"]) for s in sessions] == [
        ("Mobile Safari", "198.51.100.9", False),  # most recently used first
        ("Firefox/140 on a laptop", "203.0.113.7", True),
    ]
    assert set(sessions[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "user_agent",
        "ip_address",
        "current",
    }
    # From the phone's token, the phone's session is the current one.
    mine = api(phone["access"]).get(SESSIONS).json()
    assert [s["current"] for s in mine] == [True, False]


@pytest.mark.django_db
def test_a_refresh_continues_its_session(dana):
    first = sign_in(dana.email, "Firefox", "203.0.113.7")
    [before] = api(first["access"]).get(SESSIONS).json()
    client = api(HTTP_USER_AGENT="Firefox (updated)", REMOTE_ADDR="203.0.113.8")
    refreshed = client.post(REFRESH, {"refresh": first["refresh"]}).json()
    [after] = api(refreshed["access"]).get(SESSIONS).json()
    assert after["id"] == before["id"] and after["current"]
    assert after["last_used_at"] > before["last_used_at"]
    assert (after["user_agent"], after["ip_address"]) == ("Firefox (updated)", "203.0.113.8")
    assert after["created_at"] == before["created_at"]


@pytest.mark.django_db
def test_revoking_a_session_blacklists_its_refresh_token_only(dana):
    laptop = sign_in(dana.email, "Firefox", "203.0.113.7")
    stolen = sign_in(dana.email, "curl/8", "192.0.2.66")
    listed = api(laptop["access"]).get(SESSIONS).json()
    target = next(s["id"] for s in listed if s["user_agent"] == "curl/8")

    assert api(laptop["access"]).delete(f"{SESSIONS}{target}/").status_code == 204
    refused = api().post(REFRESH, {"refresh": stolen["refresh"]})
    assert (refused.status_code, codes(refused)) == (401, ["token_not_valid"])
    assert [s["user_agent"] for s in api(laptop["access"]).get(SESSIONS).json()] == ["Firefox"]
    # The other session lives on: its refresh works and continues it.
    assert api().post(REFRESH, {"refresh": laptop["refresh"]}).status_code == 200
    # Revoking it again, or one that never was, is a 404.
    again = api(laptop["access"]).delete(f"{SESSIONS}{target}/")
    assert (again.status_code, codes(again)) == (404, ["not_found"])
    missing = api(laptop["access"]).delete(f"{SESSIONS}{uuid.uuid4()}/")
    assert (missing.status_code, codes(missing)) == (404, ["not_found"])


@pytest.mark.django_db
def test_another_user_s_session_is_404_and_stays_alive(dana, tenant_a):
    make_user(tenant_a, "eve@alpha.test")
    eve = sign_in("eve@alpha.test", "Eve", "192.0.2.1")
    mine = sign_in(dana.email, "Firefox", "203.0.113.7")
    with tenant_scope(tenant_a):
        eves = str(UserSession.objects.get(user__email="eve@alpha.test").pk)
    assert eves not in [s["id"] for s in api(mine["access"]).get(SESSIONS).json()]
    response = api(mine["access"]).delete(f"{SESSIONS}{eves}/")
    assert (response.status_code, codes(response)) == (404, ["not_found"])
    assert api().post(REFRESH, {"refresh": eve["refresh"]}).status_code == 200


@pytest.mark.django_db
def test_a_password_change_or_logout_ends_every_listed_session(dana):
    old = sign_in(dana.email, "Old laptop", "203.0.113.7")
    sign_in(dana.email, "Phone", "198.51.100.9")
    changed = api(old["access"]).post(
        "/api/v1/auth/password/change/",
        {"current_password": PASSWORD, "new_password": "Correct-Staple-Horse-77"},
        HTTP_USER_AGENT="New laptop",
    )
    assert changed.status_code == 200, changed.content
    fresh = changed.json()
    listed = api(fresh["access"]).get(SESSIONS).json()
    assert [(s["user_agent"], s["current"]) for s in listed] == [("New laptop", True)]
    assert api().post("/api/v1/auth/logout/", {"refresh": fresh["refresh"]}).status_code == 204
    again = api(host=ALPHA, HTTP_USER_AGENT="Later", REMOTE_ADDR="203.0.113.7").post(
        TOKEN, {"email": dana.email, "password": "Correct-Staple-Horse-77"}
    )
    assert [s["user_agent"] for s in api(again.json()["access"]).get(SESSIONS).json()] == ["Later"]


@pytest.mark.django_db
def test_sessions_need_a_token_and_take_no_unknown_method(dana):
    assert api().get(SESSIONS).status_code == 401
    access = sign_in(dana.email, "Firefox", "203.0.113.7")["access"]
    assert api(access).post(SESSIONS, {}).status_code == 405
    assert api(access).get(f"{SESSIONS}not-a-uuid/").status_code == 404


@pytest.mark.django_db
def test_an_odd_user_agent_or_address_does_not_fail_the_sign_in(dana):
    access = sign_in(dana.email, "evil\x00agent" + "x" * 600, "not-an-address")["access"]
    [session] = api(access).get(SESSIONS).json()
    assert session["user_agent"] == ("evilagent" + "x" * 600)[:512]
    assert session["ip_address"] is None


@pytest.mark.django_db
def test_accepting_an_invitation_starts_a_session_listed_with_its_client(tenant_a):
    """The pair an accepted invitation answers with is a sign-in like any other."""
    from datetime import timedelta

    from django.utils import timezone

    from atrium.platform.accounts.models import Role
    from atrium.platform.invitations.models import Invitation, token_digest, token_new

    token = token_new()
    with tenant_scope(tenant_a):
        Invitation.objects.create(
            email="newcomer@alpha.test",
            role=Role.MEMBER,
            token_hash=token_digest(token),
            invited_by=User.objects.get(email="owner@alpha.test"),
            expires_at=timezone.now() + timedelta(days=1),
        )
    client = api(HTTP_USER_AGENT="Firefox/140 on a laptop", REMOTE_ADDR="203.0.113.7")
    accepted = client.post(
        "/api/v1/auth/invitations/accept/",
        {"token": token, "name": "Newcomer", "password": PASSWORD},
    )
    assert accepted.status_code == 201, accepted.content
    [session] = api(accepted.json()["access"]).get(SESSIONS).json()
    assert (session["user_agent"], session["ip_address"], session["current"]) == (
        "Firefox/140 on a laptop",
        "203.0.113.7",
        True,
    )
