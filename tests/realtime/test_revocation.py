"""Revocation end to end, on a real server: after a logout, a deactivation, a change of role
or of password (changed, reset or set), the user's old tokens get 401 at once and its open sockets are closed
(4401), while another user's token and socket keep working.

The server is uvicorn in a process of its own; the tenant admin's change runs in the test
process, so both the token check and the socket close are shown to cross processes.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from atrium.platform.accounts.account_tokens import account_token_issue
from atrium.platform.accounts.hashers import GENERATED_SECRET_HASHER
from atrium.platform.accounts.models import AccountTokenPurpose, Role, User
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests.driver import Server
from tests.realtime.sockets import server_socket

HOST = "alpha.localhost"
PASSWORD = "Tr0ub4dor-and-3-horses"
NEW_PASSWORD = "Correct-Staple-Horse-77"
ME = "/api/v1/users/me/"
CHANGE = "/api/v1/auth/password/change/"


@pytest.fixture(scope="module")
def server(django_db_setup) -> Iterator[Server]:
    with Server(log_level="warning") as running:
        yield running


@dataclass
class People:
    target: User
    bystander: User
    admin: User


@pytest.fixture
def people(live_db, tenant_a: Tenant) -> Iterator[People]:
    """Three committed users of alpha: the one whose authority changes, a member who must
    not be affected, and an admin who makes the change."""
    tag = uuid.uuid4().hex[:8]
    with tenant_scope(tenant_a):
        created = People(
            target=User.objects.create_user(email=f"target-{tag}@alpha.test", password=PASSWORD),
            bystander=User.objects.create_user(email=f"other-{tag}@alpha.test"),
            admin=User.objects.create_user(email=f"admin-{tag}@alpha.test", password=PASSWORD),
        )
        created.admin.apply_role(Role.ADMIN)
        created.admin.save()
    yield created
    with tenant_scope(tenant_a):
        User.objects.filter(email__endswith=f"-{tag}@alpha.test").delete()


def mint(tenant: Tenant, user: User) -> str:
    with tenant_scope(tenant):
        return token_pair_issue(user=user).access


@pytest.fixture
def sockets() -> Iterator[contextlib.ExitStack]:
    """Sockets opened in a test are closed at its end."""
    with contextlib.ExitStack() as stack:
        yield stack


def open_socket(sockets: contextlib.ExitStack, server: Server, token: str) -> ClientConnection:
    """A socket the server accepted (open until the test ends)."""
    return sockets.enter_context(server_socket(server, HOST, token))


def answers_ping(ws: ClientConnection) -> bool:
    ws.send('{"type": "ping"}')
    while True:  # events of the tenant (user.deactivated, ...) may arrive first
        message = json.loads(ws.recv(timeout=10))
        if message.get("type") in ("pong", "error") or "ts" not in message:
            return message == {"type": "pong"}


def close_of(ws: ClientConnection) -> tuple[int, str]:
    """The close code and reason the server ends ``ws`` with (within a generous deadline)."""
    try:
        while True:
            ws.recv(timeout=20)  # events may arrive first; the close must follow
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


def error_code(response) -> str:
    return response.json()["errors"][0]["code"]


def sign_in(server: Server, user: User) -> dict:
    response = server.post(HOST, "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def change_in_tenant_admin(admin: User, target: User, **fields: str) -> None:
    """The tenant's Django admin, driven from this process (not the server's)."""
    client = Client(HTTP_HOST=HOST)
    login = client.post(
        "/admin/login/?next=/admin/", {"username": admin.email, "password": PASSWORD}
    )
    assert login.status_code == 302, "the admin could not sign in to the tenant admin"
    form = {"name": target.name, "role": target.role, "is_active": "on", **fields}
    form = {key: value for key, value in form.items() if value != ""}
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]


# Each case: what happens, then the target's old access token's 401 code and the close
# reason of its socket.
CASES = {
    "logout": ("token_revoked", "logged_out"),
    "deactivation": ("user_inactive", "user_inactive"),
    "role_change": ("token_revoked", "role_changed"),
    "password_change": ("token_revoked", "password_changed"),
    "password_reset": ("token_revoked", "password_changed"),
    "password_set_by_admin": ("token_revoked", "password_changed"),
    "password_set_outside_the_services": ("token_revoked", "password_changed"),
    "deactivation_in_tenant_admin": ("user_inactive", "user_inactive"),
    "role_change_in_tenant_admin": ("token_revoked", "role_changed"),
    "deactivation_outside_the_services": ("user_inactive", "user_inactive"),
    "role_change_outside_the_services": ("token_revoked", "role_changed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_revocation_takes_effect_at_once_on_http_and_sockets(
    server, people, tenant_a, sockets, case
):
    expected_code, expected_reason = CASES[case]
    pair = sign_in(server, people.target)
    old_access, old_refresh = pair["access"], pair["refresh"]
    admin_token = mint(tenant_a, people.admin)
    other_token = mint(tenant_a, people.bystander)
    assert server.get(HOST, ME, token=old_access).status_code == 200
    target_ws = open_socket(sockets, server, old_access)
    other_ws = open_socket(sockets, server, other_token)
    assert answers_ping(target_ws) and answers_ping(other_ws)
    target_url = f"/api/v1/users/{people.target.pk}/"
    new_access = None
    if case == "logout":
        answer = server.post(HOST, "/api/v1/auth/logout/", {"refresh": old_refresh})
        assert answer.status_code == 204, answer.text
    elif case == "deactivation":
        answer = server.request("DELETE", HOST, target_url, token=admin_token)
        assert answer.status_code == 204, answer.text
    elif case == "role_change":
        answer = server.request(
            "PATCH", HOST, target_url, token=admin_token, json={"role": "admin"}
        )
        assert answer.status_code == 200, answer.text
    elif case == "password_change":
        answer = server.post(
            HOST,
            CHANGE,
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            token=old_access,
        )
        assert answer.status_code == 200, answer.text
        new_access = answer.json()["access"]
    elif case == "password_reset":
        with tenant_scope(tenant_a):
            token = account_token_issue(
                user=people.target, purpose=AccountTokenPurpose.PASSWORD_RESET, ttl=60
            )
        answer = server.post(
            HOST,
            "/api/v1/auth/password/reset/confirm/",
            {"token": token, "new_password": NEW_PASSWORD},
        )
        assert answer.status_code == 200, answer.text
    elif case == "password_set_by_admin":
        answer = server.post(
            HOST, target_url + "password/", {"password": NEW_PASSWORD}, token=admin_token
        )
        assert answer.status_code == 204, answer.text
    elif case == "password_set_outside_the_services":  # a shell, Django's changepassword
        with tenant_scope(tenant_a):
            user = User.objects.get(pk=people.target.pk)
            user.set_password(NEW_PASSWORD)
            user.save()
    elif case == "deactivation_outside_the_services":  # a shell, any code that saves
        with tenant_scope(tenant_a):
            user = User.objects.get(pk=people.target.pk)
            user.is_active = False
            user.save()
    elif case == "role_change_outside_the_services":
        with tenant_scope(tenant_a):
            user = User.objects.get(pk=people.target.pk)
            user.role = Role.ADMIN
            user.save()
    elif case == "deactivation_in_tenant_admin":
        change_in_tenant_admin(people.admin, people.target, is_active="")
    elif case == "role_change_in_tenant_admin":
        change_in_tenant_admin(people.admin, people.target, role="admin")

    # The old access token is refused on the very next request, with a stable code.
    refused = server.get(HOST, ME, token=old_access)
    assert refused.status_code == 401, refused.text
    assert error_code(refused) == expected_code
    # So is the refresh token issued with it, and a new socket with the old token.
    refreshed = server.post(HOST, "/api/v1/auth/token/refresh/", {"refresh": old_refresh})
    assert refreshed.status_code == 401, refreshed.text
    # The open socket is closed with 4401 and the reason.
    assert close_of(target_ws) == (4401, expected_reason)
    assert close_of(open_socket(sockets, server, old_access)) == (4401, expected_code)

    # Positive control: another user's token and socket keep working.
    assert server.get(HOST, ME, token=other_token).status_code == 200
    assert answers_ping(other_ws)
    if new_access is not None:  # the pair answered with a password change works
        assert server.get(HOST, ME, token=new_access).status_code == 200
        assert answers_ping(open_socket(sockets, server, new_access))


def test_a_stale_refresh_token_cannot_sign_everybody_out(server, people):
    """Logging out with a refresh token outdated by an earlier revocation blacklists it and
    nothing more: whoever kept an old refresh token cannot end the user's newer sessions."""
    old = sign_in(server, people.target)
    changed = server.post(
        HOST,
        CHANGE,
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        token=old["access"],
    )
    assert changed.status_code == 200, changed.text
    current = changed.json()
    assert server.post(HOST, "/api/v1/auth/logout/", {"refresh": old["refresh"]}).status_code == (
        204
    )
    assert server.get(HOST, ME, token=current["access"]).status_code == 200
    # The current refresh token does sign the user out.
    assert server.post(
        HOST, "/api/v1/auth/logout/", {"refresh": current["refresh"]}
    ).status_code == (204)
    assert error_code(server.get(HOST, ME, token=current["access"])) == "token_revoked"


def test_rehashing_a_password_at_sign_in_revokes_nothing(server, people, tenant_a):
    """A one-time password's hash is upgraded at the first sign-in (same password, new
    hash): that is no change of password, and the tokens held keep working."""
    with tenant_scope(tenant_a):
        User.objects.filter(pk=people.target.pk).update(
            password=make_password(PASSWORD, hasher=GENERATED_SECRET_HASHER)
        )
    held = mint(tenant_a, people.target)
    sign_in(server, people.target)
    with tenant_scope(tenant_a):
        rehashed = User.objects.get(pk=people.target.pk).password
    assert not rehashed.startswith(GENERATED_SECRET_HASHER), "the sign-in did not rehash"
    assert server.get(HOST, ME, token=held).status_code == 200


def test_a_revoked_session_s_access_token_is_refused_at_once_on_http_and_at_connect(
    server, people, sockets
):
    """Revoking one session (``DELETE auth/sessions/<id>/``) ends its access tokens on the
    next request, in another process than the one that revoked it, though the server has
    the user cached, and closes the sockets they opened; the user's other session, and its
    socket, keep working."""
    laptop = sign_in(server, people.target)
    stolen = sign_in(server, people.target)
    for _ in range(2):  # the server's user entry is warm
        assert server.get(HOST, ME, token=stolen["access"]).status_code == 200
    stolen_socket = open_socket(sockets, server, stolen["access"])
    laptop_socket = open_socket(sockets, server, laptop["access"])
    assert answers_ping(stolen_socket) and answers_ping(laptop_socket)
    sessions = server.get(HOST, "/api/v1/auth/sessions/", token=stolen["access"]).json()
    target = next(session["id"] for session in sessions if session["current"])
    revoked = server.request(
        "DELETE", HOST, f"/api/v1/auth/sessions/{target}/", token=laptop["access"]
    )
    assert revoked.status_code == 204, revoked.text

    refused = server.get(HOST, ME, token=stolen["access"])
    assert (refused.status_code, error_code(refused)) == (401, "token_revoked")
    assert error_code(
        server.post(HOST, "/api/v1/auth/token/verify/", {"token": stolen["access"]})
    ) in {"token_revoked"}
    assert (
        server.post(HOST, "/api/v1/auth/token/refresh/", {"refresh": stolen["refresh"]}).status_code
        == 401
    )
    assert close_of(stolen_socket) == (4401, "token_revoked")  # the one already open
    with contextlib.ExitStack() as later:
        assert close_of(open_socket(later, server, stolen["access"])) == (4401, "token_revoked")
    assert server.get(HOST, ME, token=laptop["access"]).status_code == 200
    assert answers_ping(laptop_socket)


def test_a_profile_change_in_another_process_is_seen_on_the_next_request(server, people, tenant_a):
    """The server caches the user a token speaks for; a save anywhere else (here, this
    process) is seen by the server's next request all the same."""
    access = sign_in(server, people.target)["access"]
    for _ in range(2):
        assert server.get(HOST, ME, token=access).json()["name"] == ""
    with tenant_scope(tenant_a):
        user = User.objects.get(pk=people.target.pk)
        user.name = "Renamed elsewhere"
        user.save()
    assert server.get(HOST, ME, token=access).json()["name"] == "Renamed elsewhere"
