"""Passwords through the HTTP API: change, one-time (must-change) passwords, reset by mail,
e-mail change, last_login. Mail goes to the real SMTP sink; the reset's own path also runs
on a real server and a real Celery worker (the end of this file)."""

from __future__ import annotations

import re
import socket
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from atrium.platform.accounts.models import AccountToken, Role, User
from atrium.platform.audit.models import AuditEvent
from atrium.tenants import provisioning
from atrium.tenants.context import tenant_scope
from tests.fixtures import OWNER_PASSWORD, run_cli
from tests.realtime.sockets import access_token, async_test, communicator, refusal

ALPHA, BETA = "alpha.localhost", "beta.localhost"
PASSWORD = "Tr0ub4dor-and-3-horses"
NEW_PASSWORD = "Correct-Staple-Horse-77"
TOKEN, REFRESH, ME = "/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/users/me/"
CHANGE = "/api/v1/auth/password/change/"
RESET, RESET_CONFIRM = "/api/v1/auth/password/reset/", "/api/v1/auth/password/reset/confirm/"
EMAIL, EMAIL_CONFIRM = "/api/v1/users/me/email/", "/api/v1/auth/email/confirm/"


def api(host: str = ALPHA, token: str | None = None, **extra) -> APIClient:
    client = APIClient(HTTP_HOST=host, **extra)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def login(email: str, password: str = PASSWORD, host: str = ALPHA):
    return api(host).post(TOKEN, {"email": email, "password": password})


def pair(email: str, password: str = PASSWORD, host: str = ALPHA) -> dict:
    response = login(email, password, host)
    assert response.status_code == 200, response.content
    return response.json()


def make_user(tenant, email: str, *, role: str = Role.MEMBER, password: str = PASSWORD) -> User:
    with tenant_scope(tenant):
        user = User.objects.create_user(email=email, password=password, name="Dana")
        user.apply_role(role)
        user.save()
        return user


@pytest.fixture
def member(tenant_a) -> User:
    return make_user(tenant_a, "dana@alpha.test")


def reload(tenant, user: User) -> User:
    with tenant_scope(tenant):
        return User.objects.get(pk=user.pk)


def audited(tenant, user: User, action: str) -> list[tuple[str, str]]:
    """(actor id, target id) of the audit entries of ``action`` about ``user``."""
    with tenant_scope(tenant):
        entries = AuditEvent.objects.filter(action=action, target_id=str(user.pk))
        return [(entry.actor_id, entry.target_id) for entry in entries]


def mailed_token(message) -> str:
    """The token of a mail: in the link's query string and in plain text, in both bodies."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = re.search(r"\?token=([A-Za-z0-9_-]+)", text).group(1)
    assert token in text.splitlines(), "no plain-text token"
    assert f"token={token}" in html and f"<code>{token}</code>" in html
    return token


def request_reset(email: str, host: str, capture) -> object:
    """POST the reset and run what it queued after the commit (the eager task, its mail)."""
    with capture(execute=True):
        response = api(host).post(RESET, {"email": email})
    assert response.status_code == 202, response.content
    return response


# ------------------------------------------------------------------------ change


@pytest.mark.django_db
def test_a_change_answers_a_fresh_pair_and_every_other_token_stops(member, tenant_a):
    first, second = pair(member.email), pair(member.email)
    response = api(token=first["access"]).post(
        CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200, response.content
    fresh = response.json()
    assert set(fresh) == {"access", "refresh"}
    # Every token held before, of either session, is refused at once.
    for old in (first, second):
        refused = api(token=old["access"]).get(ME)
        assert (refused.status_code, codes(refused)) == (401, ["token_revoked"])
        refused = api().post(REFRESH, {"refresh": old["refresh"]})
        assert (refused.status_code, codes(refused)) == (401, ["token_revoked"])
    assert api(token=fresh["access"]).get(ME).status_code == 200
    assert api().post(REFRESH, {"refresh": fresh["refresh"]}).status_code == 200
    assert login(member.email, PASSWORD).status_code == 401
    assert login(member.email, NEW_PASSWORD).status_code == 200
    assert audited(tenant_a, member, "password.changed") == [(str(member.pk), str(member.pk))]


@pytest.mark.django_db
def test_a_change_is_told_to_the_accounts_address_and_a_refused_one_is_not(
    member, smtp_sink, django_capture_on_commit_callbacks
):
    access = pair(member.email)["access"]
    with django_capture_on_commit_callbacks(execute=True):
        wrong = api(token=access).post(
            CHANGE, {"current_password": "wrong", "new_password": NEW_PASSWORD}
        )
    assert wrong.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        done = api(token=access).post(
            CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
    assert done.status_code == 200
    notice = smtp_sink.wait_for(to=member.email)
    assert notice["Subject"].endswith("Your password was changed")
    assert NEW_PASSWORD not in notice.as_string()
    assert [m["To"] for m in smtp_sink.messages] == [member.email]  # one, for the change


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "code", "attr"),
    [
        ({"current_password": "wrong", "new_password": NEW_PASSWORD}, "invalid_password", None),
        ({"current_password": PASSWORD, "new_password": "123"}, "password_too_weak", None),
        ({"current_password": PASSWORD, "new_password": "password123"}, "password_too_weak", None),
        ({"current_password": PASSWORD, "new_password": "84736291047"}, "password_too_weak", None),
        (
            {"current_password": PASSWORD, "new_password": "dana@alpha.test"},
            "password_too_weak",
            None,
        ),
        ({"new_password": NEW_PASSWORD}, "required", "current_password"),
        ({"current_password": PASSWORD, "password": NEW_PASSWORD}, "unknown_field", "password"),
    ],
)
def test_a_wrong_current_or_a_weak_new_password_is_refused_and_changes_nothing(
    member, tenant_a, payload, code, attr
):
    held = pair(member.email)
    before = reload(tenant_a, member)
    response = api(token=held["access"]).post(CHANGE, payload)
    assert response.status_code == 400, response.content
    assert code in codes(response)
    if code in ("invalid_password", "password_too_weak"):
        expected = "current_password" if code == "invalid_password" else "new_password"
        assert response.json()["errors"][0]["attr"] == expected
    elif attr:
        assert attr in [error["attr"] for error in response.json()["errors"]]
    after = reload(tenant_a, member)
    assert (after.password, after.token_version) == (before.password, before.token_version)
    assert audited(tenant_a, member, "password.changed") == []
    assert api(token=held["access"]).get(ME).status_code == 200


@pytest.mark.django_db
def test_a_change_needs_a_token():
    response = api().post(CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 401


# ------------------------------------------------------------------ must change


def create_user_as_admin(tenant_a, **payload) -> dict:
    admin = make_user(tenant_a, f"admin-{uuid.uuid4().hex[:6]}@alpha.test", role=Role.ADMIN)
    response = api(token=pair(admin.email)["access"]).post("/api/v1/users/", payload)
    assert response.status_code == 201, response.content
    return response.json()


def assert_blocked(access: str) -> None:
    """Every endpoint but the password change, logout and users/me/ answers 403."""
    client = api(token=access)
    for method, path in [
        ("get", "/api/v1/users/"),
        ("post", "/api/v1/users/"),
        ("get", "/api/v1/catalog/products/"),
        ("get", "/api/v1/auth/sessions/"),
        ("post", EMAIL),
        ("get", "/api/v1/usage/"),
    ]:
        response = getattr(client, method)(path, {})
        assert (response.status_code, codes(response)) == (403, ["password_change_required"]), (
            method,
            path,
            response.content,
        )


@pytest.mark.django_db
def test_a_generated_password_must_be_changed_before_anything_else_works(tenant_a):
    created = create_user_as_admin(tenant_a, email="new@alpha.test")
    one_time = created["one_time_password"]
    signed_in = pair("new@alpha.test", one_time)
    assert signed_in["password_change_required"] is True
    assert_blocked(signed_in["access"])
    # users/me/ answers: the user may read and rename itself.
    me = api(token=signed_in["access"])
    assert me.get(ME).status_code == 200
    assert me.patch(ME, {"name": "New Person"}).json()["name"] == "New Person"
    # A refreshed pair is still one-time.
    refreshed = api().post(REFRESH, {"refresh": signed_in["refresh"]}).json()
    assert_blocked(refreshed["access"])

    changed = api(token=refreshed["access"]).post(
        CHANGE, {"current_password": one_time, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.content
    assert api(token=changed.json()["access"]).get("/api/v1/users/").status_code == 200
    assert pair("new@alpha.test", NEW_PASSWORD)["password_change_required"] is False


@pytest.mark.django_db
def test_logout_works_with_a_one_time_password(tenant_a):
    created = create_user_as_admin(tenant_a, email="leaving@alpha.test")
    signed_in = pair("leaving@alpha.test", created["one_time_password"])
    assert api().post("/api/v1/auth/logout/", {"refresh": signed_in["refresh"]}).status_code == 204


@pytest.mark.django_db
@pytest.mark.parametrize(("must_change", "expected"), [(None, False), (False, False), (True, True)])
def test_a_chosen_password_is_one_time_only_when_asked(tenant_a, must_change, expected):
    payload = {"email": "chosen@alpha.test", "password": PASSWORD}
    if must_change is not None:
        payload["must_change_password"] = must_change
    created = create_user_as_admin(tenant_a, **payload)
    assert created["one_time_password"] is None
    signed_in = pair("chosen@alpha.test")
    assert signed_in["password_change_required"] is expected
    users = api(token=signed_in["access"]).get("/api/v1/users/")
    assert users.status_code == (403 if expected else 200)


@pytest.mark.django_db
def test_the_check_costs_no_query(tenant_a, member):
    """The flag is read from the user row that authentication loads anyway."""
    created = create_user_as_admin(tenant_a, email="fresh@alpha.test")
    one_time = pair("fresh@alpha.test", created["one_time_password"])["access"]
    normal = pair(member.email)["access"]
    counts = []
    for access in (normal, one_time):
        client = api(token=access)
        client.get(ME)  # warm caches (routing directory) alike for both
        with CaptureQueriesContext(connection) as queries:
            assert client.get(ME).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


@pytest.mark.django_db
@async_test
async def test_a_one_time_password_opens_no_socket(tenant_a):
    from tests.realtime.sockets import in_thread

    def one_time_user() -> User:
        with tenant_scope(tenant_a):
            created = User.objects.create_with_role("ws@alpha.test", role=Role.MEMBER)
            return created.user

    user = await in_thread(one_time_user)
    access = await in_thread(access_token, tenant_a, user)
    assert await refusal(communicator(subprotocols=["bearer", access])) == (
        4403,
        "password_change_required",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("must_change", "expected"), [(None, False), (True, True)])
def test_a_password_an_admin_sets_is_one_time_only_when_asked(
    member, tenant_a, must_change, expected
):
    """``POST users/{id}/password/``: an admin's chosen password, like one given at
    creation, is one-time only with ``must_change_password``; a one-time password the user
    had is replaced by a chosen one that is not."""
    admin = make_user(tenant_a, "setter@alpha.test", role=Role.ADMIN)
    with tenant_scope(tenant_a):
        User.objects.filter(pk=member.pk).update(password_change_required=True)
    payload = {"password": NEW_PASSWORD}
    if must_change is not None:
        payload["must_change_password"] = must_change
    response = api(token=pair(admin.email)["access"]).post(
        f"/api/v1/users/{member.pk}/password/", payload
    )
    assert response.status_code == 204, response.content
    signed_in = pair(member.email, NEW_PASSWORD)
    assert signed_in["password_change_required"] is expected
    users = api(token=signed_in["access"]).get("/api/v1/users/")
    assert users.status_code == (403 if expected else 200)


def test_tenants_create_passwords_are_one_time_unless_chosen(live_db):
    """`tenants create`: a generated password is one-time; a chosen one only with
    --must-change."""
    for slug in ("pw-generated", "pw-chosen", "pw-must"):
        live_db.append(slug)
    generated = provisioning.tenant_create(
        slug="pw-generated", name="G", owner_email="o@pw-generated.test"
    )
    cases = {"pw-generated": (generated.owner_password, True)}
    for slug, extra, expected in [("pw-chosen", [], False), ("pw-must", ["--must-change"], True)]:
        result = run_cli(
            *("tenants", "create", slug, "--name", slug, "--owner-email", f"o@{slug}.test"),
            *("--owner-password", OWNER_PASSWORD, *extra),
        )
        assert result.returncode == 0, result.stderr
        cases[slug] = (OWNER_PASSWORD, expected)
    for slug, (password, expected) in cases.items():
        signed_in = pair(f"o@{slug}.test", password, host=f"{slug}.localhost")
        assert signed_in["password_change_required"] is expected, slug
        users = api(f"{slug}.localhost", signed_in["access"]).get("/api/v1/users/")
        assert users.status_code == (403 if expected else 200), slug


# ------------------------------------------------------------------------ reset


@pytest.mark.django_db
def test_a_reset_mails_a_one_time_link_that_sets_the_password(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    held = pair(member.email)
    response = request_reset("Dana@Alpha.TEST", ALPHA, django_capture_on_commit_callbacks)
    assert set(response.json()) == {"detail"}
    message = smtp_sink.wait_for(to=member.email)
    assert "Alpha Ltd" in message["Subject"]
    assert (
        "http://alpha.localhost:8000/reset-password?token="
        in message.get_body(("plain",)).get_content()
    )
    token = mailed_token(message)

    smtp_sink.clear()
    with django_capture_on_commit_callbacks(execute=True):
        done = api().post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.content
    notice = smtp_sink.wait_for(to=member.email)  # the owner of the address hears of it
    assert notice["Subject"].endswith("Your password was changed")
    assert "reset with a link" in notice.get_body(("plain",)).get_content()
    assert token not in notice.as_string()
    assert login(member.email, NEW_PASSWORD).status_code == 200
    assert login(member.email, PASSWORD).status_code == 401
    # The tokens held before are revoked; the token works once.
    assert codes(api(token=held["access"]).get(ME)) == ["token_revoked"]
    again = api().post(RESET_CONFIRM, {"token": token, "new_password": "An0ther-Fine-Pass"})
    assert (again.status_code, codes(again)) == (400, ["invalid_token"])
    assert login(member.email, NEW_PASSWORD).status_code == 200
    assert audited(tenant_a, member, "password.reset") == [(str(member.pk), str(member.pk))]


@pytest.mark.django_db
def test_a_reset_for_an_unknown_address_is_202_sends_nothing_and_does_the_same_work(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    """Known and unknown addresses (and a deactivated account's) get the same answer after
    the same work: no query, one queued task. Only the known one gets a mail."""
    gone = make_user(tenant_a, "gone@alpha.test")
    with tenant_scope(tenant_a):
        User.objects.filter(pk=gone.pk).update(is_active=False)
    assert api().post(RESET, {"email": "warm-up@alpha.test"}).status_code == 202  # caches
    answers = {}
    for email in ("nobody@alpha.test", "gone@alpha.test", member.email):
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks() as queued,
        ):
            response = api().post(RESET, {"email": email})
        answers[email] = (response.status_code, response.json(), len(queries), len(queued))
        with django_capture_on_commit_callbacks(execute=True):
            for callback in queued:  # the commit: the task runs (eagerly), then its mail
                callback()
    assert len(set(map(repr, answers.values()))) == 1, answers
    assert answers[member.email][0] == 202 and answers[member.email][3] == 1
    smtp_sink.wait_for(to=member.email)
    assert [m["To"] for m in smtp_sink.messages] == [member.email]
    with tenant_scope(tenant_a):
        assert list(AccountToken.objects.values_list("user__email", flat=True)) == [member.email]


@pytest.mark.django_db
def test_an_expired_reset_token_is_refused(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks, settings
):
    settings.ATRIUM_PASSWORD_RESET_TTL = 120
    request_reset(member.email, ALPHA, django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to=member.email))
    with tenant_scope(tenant_a):
        row = AccountToken.objects.get()
        assert timedelta(seconds=115) < row.expires_at - row.created_at <= timedelta(seconds=120)
        AccountToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api().post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert (response.status_code, codes(response)) == (400, ["token_expired"])
    assert login(member.email, PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_reset_token_dies_at_any_change_of_the_password(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    request_reset(member.email, ALPHA, django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to=member.email))
    changed = api(token=pair(member.email)["access"]).post(
        CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200
    response = api().post(RESET_CONFIRM, {"token": token, "new_password": "Y3t-Another-Pass"})
    assert (response.status_code, codes(response)) == (400, ["invalid_token"])
    assert login(member.email, NEW_PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_reset_token_is_refused_on_another_tenant(
    member, tenant_a, tenant_b, smtp_sink, django_capture_on_commit_callbacks
):
    make_user(tenant_b, member.email)  # the same person has an account on beta
    request_reset(member.email, ALPHA, django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to=member.email))
    foreign = api(BETA).post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert (foreign.status_code, codes(foreign)) == (400, ["invalid_token"])
    assert login(member.email, PASSWORD, host=BETA).status_code == 200
    # Where it belongs it still works.
    home = api().post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert home.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("", "blank"),
        ("x" * 300, "max_length"),
        ("not-a-token", "invalid_token"),
        ("' OR 1=1 --", "invalid_token"),
        ("\u00e9" * 43, "invalid_token"),
    ],
)
def test_a_malformed_reset_token_is_refused(member, tenant_a, token, code):
    before = reload(tenant_a, member).password
    response = api().post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert response.status_code == 400, response.content
    assert codes(response) == [code]
    assert reload(tenant_a, member).password == before


@pytest.mark.django_db
def test_a_weak_password_at_reset_leaves_the_token_usable(
    member, smtp_sink, django_capture_on_commit_callbacks
):
    request_reset(member.email, ALPHA, django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to=member.email))
    weak = api().post(RESET_CONFIRM, {"token": token, "new_password": "12345"})
    assert (weak.status_code, codes(weak)) == (400, ["password_too_weak"])
    assert login(member.email, PASSWORD).status_code == 200
    ok = api().post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert ok.status_code == 200


@pytest.mark.django_db
def test_a_reset_ends_a_one_time_password(tenant_a, smtp_sink, django_capture_on_commit_callbacks):
    create_user_as_admin(tenant_a, email="forgot@alpha.test")
    request_reset("forgot@alpha.test", ALPHA, django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to="forgot@alpha.test"))
    done = api().post(RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    assert done.status_code == 200
    assert pair("forgot@alpha.test", NEW_PASSWORD)["password_change_required"] is False


@pytest.mark.django_db
def test_reset_requests_and_confirms_are_limited_like_login(member):
    """Login's limits: 5 a minute per e-mail (per token for a confirmation), and the reset
    attempts spend the same e-mail budget as sign-in."""
    for _ in range(5):
        assert api().post(RESET, {"email": member.email}).status_code == 202
    limited = api().post(RESET, {"email": member.email})
    assert (limited.status_code, codes(limited)) == (429, ["throttled"])
    assert "Retry-After" in limited
    assert login(member.email).status_code == 429  # one budget with sign-in
    assert api().post(RESET, {"email": "other@alpha.test"}).status_code == 202

    for _ in range(5):
        guess = api().post(RESET_CONFIRM, {"token": "guess", "new_password": NEW_PASSWORD})
        assert codes(guess) == ["invalid_token"]
    limited = api().post(RESET_CONFIRM, {"token": "guess", "new_password": NEW_PASSWORD})
    assert (limited.status_code, codes(limited)) == (429, ["throttled"])


# ----------------------------------------------------------------- e-mail change


def request_email_change(access: str, new_email: str, capture, password: str = PASSWORD):
    with capture(execute=True):
        return api(token=access).post(EMAIL, {"new_email": new_email, "password": password})


@pytest.mark.django_db
def test_an_email_change_is_confirmed_from_the_new_address(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    access = pair(member.email)["access"]
    response = request_email_change(access, "Dana@New.TEST", django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    message = smtp_sink.wait_for(to="dana@new.test")
    assert (
        "http://alpha.localhost:8000/confirm-email?token="
        in message.get_body(("plain",)).get_content()
    )
    token = mailed_token(message)
    assert reload(tenant_a, member).email == member.email  # not before the confirmation

    with django_capture_on_commit_callbacks(execute=True):
        done = api().post(EMAIL_CONFIRM, {"token": token})
    assert (done.status_code, done.json()) == (200, {"email": "dana@new.test"})
    # The old address is told, so a change its owner did not make does not go unseen.
    notice = smtp_sink.wait_for(to=member.email)
    assert notice["Subject"].endswith("Your e-mail address was changed")
    text = notice.get_body(("plain",)).get_content()
    assert f"from {member.email} to dana@new.test" in text
    assert reload(tenant_a, member).email == "dana@new.test"
    assert login("dana@new.test").status_code == 200
    assert login(member.email).status_code == 401
    again = api().post(EMAIL_CONFIRM, {"token": token})
    assert (again.status_code, codes(again)) == (400, ["invalid_token"])
    with tenant_scope(tenant_a):
        entry = AuditEvent.objects.get(action="user.updated", target_id=str(member.pk))
    assert entry.changes == {"email": [member.email, "dana@new.test"]}


@pytest.mark.django_db
def test_an_email_change_needs_the_password_and_a_free_address(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    make_user(tenant_a, "taken@alpha.test")
    access = pair(member.email)["access"]
    capture = django_capture_on_commit_callbacks
    wrong = request_email_change(access, "x@new.test", capture, password="nope")
    assert (wrong.status_code, codes(wrong)) == (400, ["invalid_password"])
    taken = request_email_change(access, "TAKEN@alpha.test", capture)
    assert (taken.status_code, codes(taken)) == (409, ["email_taken"])
    bad = request_email_change(access, "not-an-address", capture)
    assert (bad.status_code, codes(bad)) == (400, ["invalid"])
    assert smtp_sink.messages == []
    with tenant_scope(tenant_a):
        assert not AccountToken.objects.exists()


@pytest.mark.django_db
def test_an_email_taken_in_the_meantime_is_409_at_confirmation(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks
):
    access = pair(member.email)["access"]
    request_email_change(access, "race@alpha.test", django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to="race@alpha.test"))
    make_user(tenant_a, "race@alpha.test")
    response = api().post(EMAIL_CONFIRM, {"token": token})
    assert (response.status_code, codes(response)) == (409, ["email_taken"])
    assert reload(tenant_a, member).email == member.email
    with tenant_scope(tenant_a):
        assert AccountToken.objects.get().used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["expired", "foreign", "malformed", "after_password_change"])
def test_a_bad_email_change_token_is_refused(
    member, tenant_a, smtp_sink, django_capture_on_commit_callbacks, case
):
    access = pair(member.email)["access"]
    request_email_change(access, "moved@new.test", django_capture_on_commit_callbacks)
    token = mailed_token(smtp_sink.wait_for(to="moved@new.test"))
    host, expected = ALPHA, "invalid_token"
    if case == "expired":
        with tenant_scope(tenant_a):
            AccountToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        expected = "token_expired"
    elif case == "foreign":
        host = BETA
    elif case == "malformed":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif case == "after_password_change":
        changed = api(token=access).post(
            CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        assert changed.status_code == 200
    response = api(host).post(EMAIL_CONFIRM, {"token": token})
    assert (response.status_code, codes(response)) == (400, [expected])
    assert reload(tenant_a, member).email == member.email


# ------------------------------------------------------------------------ small things


@pytest.mark.django_db
def test_an_api_login_sets_last_login(member, tenant_a):
    assert reload(tenant_a, member).last_login is None
    started = timezone.now()
    pair(member.email)
    assert reload(tenant_a, member).last_login >= started


# ------------------------------------------- a real server, a real worker, SMTP away


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_reset_mail_goes_through_a_real_worker_and_survives_an_smtp_outage(
    live_db, tenant_a, smtp_sink
):
    """On a real server and worker: a reset asked while SMTP is down answers 202 at once;
    the mail arrives once SMTP is back, and its token resets the password over HTTP. A
    reset for an unknown address, sent through the same worker, mails nothing."""
    from scripts.mail_sink import MailSink
    from tests import driver

    tag = uuid.uuid4().hex[:8]
    email = f"real-{tag}@alpha.test"
    make_user(tenant_a, email)
    port = _closed_port()
    worker_env = {"EMAIL_URL": f"smtp://127.0.0.1:{port}/?timeout=2"}
    try:
        with (
            driver.Worker(env=worker_env, include=()) as worker,
            driver.Server(env=worker.sender_env(), log_level="warning") as server,
        ):
            for address in (f"nobody-{tag}@alpha.test", email):
                answer = server.post(ALPHA, RESET, {"email": address})
                assert answer.status_code == 202, answer.text
            driver.wait_for(
                lambda: worker.output_since_start().count("accounts.password_reset_send") >= 4
                and "Retry in" in worker.output_since_start(),
                "both reset tasks to run and the mail to wait for SMTP",
                worker,
                timeout=40,
            )
            sink = MailSink(port=port).start()
            try:
                message = sink.wait_for(to=email, timeout=40)
                token = mailed_token(message)
                assert [m["To"] for m in sink.messages] == [email]
            finally:
                sink.stop()
            done = server.post(ALPHA, RESET_CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
            assert done.status_code == 200, done.text
            assert server.login(ALPHA, email, NEW_PASSWORD)
    finally:
        with tenant_scope(tenant_a):
            User.objects.filter(email=email).delete()
