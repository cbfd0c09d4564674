"""MFA (TOTP) end to end through the tenant API: enrolment, confirmation and recovery codes,
the second sign-in step, replay and clock skew, the mfa_token's rules, turning it off, and
the tenant's ``require_mfa_for_admins`` gate. Codes are computed with pyotp, as an
authenticator app would, at now ± whole steps."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.tokens import user_tokens_revoke
from atrium.platform.audit.models import AuditEvent
from atrium.platform.mfa import services as mfa_services
from atrium.platform.mfa.models import MfaChallenge, RecoveryCode, TOTPDevice
from atrium.tenants import provisioning, services
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests.fixtures import delete_keys

PASSWORD = "Tr0ub4dor-and-3-horses"
ENROL = "/api/v1/auth/mfa/totp/"
CONFIRM = "/api/v1/auth/mfa/totp/confirm/"
TOKEN = "/api/v1/auth/token/"
TOKEN_MFA = "/api/v1/auth/token/mfa/"
ROOMY_LOGIN = {"per_email": "1000/min", "per_ip": "1000/min"}


# ------------------------------------------------------------------------------ helpers
def host(tenant: Tenant) -> str:
    return f"{tenant.slug}.localhost"


def anonymous(tenant: Tenant) -> APIClient:
    return APIClient(HTTP_HOST=host(tenant))


def bearer(tenant: Tenant, access: str) -> APIClient:
    return APIClient(HTTP_HOST=host(tenant), HTTP_AUTHORIZATION=f"Bearer {access}")


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:400])
    body = response.json()
    assert body["type"] == ("validation_error" if status == 400 else "client_error"), body
    assert codes(response) == [code], body
    return body


def make_user(tenant: Tenant, role: str = Role.MEMBER) -> User:
    with tenant_scope(tenant):
        user = User.objects.create_with_role(
            f"u-{uuid.uuid4().hex[:8]}@{tenant.slug}.test", role=role, password=PASSWORD
        ).user
    user.tenant = tenant
    return user


def sign_in(user: User, password: str = PASSWORD):
    return anonymous(user.tenant).post(
        TOKEN, {"email": user.email, "password": password}, format="json"
    )


def access_of(user: User) -> str:
    response = sign_in(user)
    assert response.status_code == 200, response.json()
    return response.json()["access"]


def steady_step() -> None:
    """Wait until the current 30 s step has at least 5 s left and is 2 s old, so that a
    code computed for now ± n steps is for the step the server sees too."""
    while not 2 <= time.time() % 30 <= 25:
        time.sleep(0.5)


def code_at(secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def enrol(user: User, access: str) -> str:
    """Starts an enrolment; returns the secret from the otpauth URI."""
    response = bearer(user.tenant, access).post(ENROL)
    assert response.status_code == 201, response.json()
    return parse_qs(urlsplit(response.json()["otpauth_uri"]).query)["secret"][0]


def turn_on(user: User) -> tuple[str, list[str]]:
    """MFA on for ``user``: (secret, recovery codes). Uses the code of step now-1, so a
    sign-in may follow at once with the code of now."""
    steady_step()
    access = access_of(user)
    secret = enrol(user, access)
    confirmed = bearer(user.tenant, access).post(
        CONFIRM, {"code": code_at(secret, -1)}, format="json"
    )
    assert confirmed.status_code == 200, confirmed.json()
    return secret, confirmed.json()["recovery_codes"]


def mfa_token_of(user: User) -> str:
    response = sign_in(user)
    body = assert_error(response, 401, "mfa_required")
    return body["mfa_token"]


def second_step(tenant: Tenant, mfa_token, code):
    return anonymous(tenant).post(TOKEN_MFA, {"mfa_token": mfa_token, "code": code}, format="json")


def challenge_rows(tenant: Tenant) -> list[tuple]:
    with tenant_scope(tenant):
        return list(
            MfaChallenge.objects.order_by("pk").values_list("pk", "used_at", "failed_attempts")
        )


@pytest.fixture
def roomy_login(settings):
    settings.ATRIUM_LOGIN_RATE_LIMITS = ROOMY_LOGIN


# ------------------------------------------------------------------------------ enrolment
@pytest.mark.django_db
def test_enrol_confirm_and_sign_in_with_a_code(tenant_a, roomy_login):
    user = make_user(tenant_a)
    access = access_of(user)
    client = bearer(tenant_a, access)

    started = client.post(ENROL)
    assert started.status_code == 201, started.json()
    body = started.json()
    assert set(body) == {"otpauth_uri", "qr_svg"}
    uri = urlsplit(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["issuer"] == ["Alpha Ltd"]  # the tenant's name
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"].endswith("</svg>")
    # Pending: signing in still needs the password only.
    assert sign_in(user).status_code == 200

    # Starting again replaces the pending secret: a code of the first one is refused.
    first = parse_qs(uri.query)["secret"][0]
    second = enrol(user, access)
    assert second != first
    steady_step()
    assert_error(
        client.post(CONFIRM, {"code": code_at(first)}, format="json"), 400, "invalid_mfa_code"
    )
    with tenant_scope(tenant_a):
        assert TOTPDevice.objects.get(user=user).confirmed_at is None

    confirmed = client.post(CONFIRM, {"code": code_at(second, -1)}, format="json")
    assert confirmed.status_code == 200, confirmed.json()
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == len(set(recovery)) == 10
    with tenant_scope(tenant_a):
        stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not {code.replace("-", "") for code in recovery} & set(stored)  # hashed, not kept

    # Now the password alone gets 401 mfa_required with an mfa_token, and no tokens.
    refused = sign_in(user)
    body = assert_error(refused, 401, "mfa_required")
    assert set(body) == {"type", "errors", "mfa_token"}
    assert len(body["mfa_token"]) >= 40
    paired = second_step(tenant_a, body["mfa_token"], code_at(second))
    assert paired.status_code == 200, paired.json()
    assert set(paired.json()) == {"access", "refresh", "password_change_required"}
    assert paired.json()["password_change_required"] is False
    me = bearer(tenant_a, paired.json()["access"]).get("/api/v1/users/me/")
    assert me.json()["email"] == user.email
    with tenant_scope(tenant_a):
        assert User.objects.get(pk=user.pk).last_login is not None
        enabled = AuditEvent.objects.get(action="mfa.enabled", target_id=str(user.pk))
    assert (enabled.actor_id, enabled.actor_type) == (str(user.pk), "user")


@pytest.mark.django_db
def test_a_second_enrolment_while_enrolled_is_refused_and_changes_nothing(tenant_a, roomy_login):
    user = make_user(tenant_a, Role.ADMIN)
    secret, _ = turn_on(user)
    token = mfa_token_of(user)
    access = second_step(tenant_a, token, code_at(secret)).json()["access"]
    with tenant_scope(tenant_a):
        before = TOTPDevice.objects.values().get(user=user)
    client = bearer(tenant_a, access)
    assert_error(client.post(ENROL), 409, "mfa_already_enabled")
    assert_error(
        client.post(CONFIRM, {"code": code_at(secret, 1)}, format="json"),
        409,
        "mfa_already_enabled",
    )
    with tenant_scope(tenant_a):
        assert TOTPDevice.objects.values().get(user=user) == before
        assert RecoveryCode.objects.filter(user=user, used_at=None).count() == 10


@pytest.mark.django_db
def test_confirm_without_enrolment_and_bad_codes_are_refused(tenant_a, roomy_login):
    user = make_user(tenant_a)
    client = bearer(tenant_a, access_of(user))
    assert_error(
        client.post(CONFIRM, {"code": "123456"}, format="json"), 409, "mfa_enrolment_not_started"
    )
    client = bearer(tenant_a, access := access_of(user))
    enrol(user, access)
    for bad in ("", "12345", "1234567", "abcdef", "x" * 65, 123456, None, ["123456"]):
        response = client.post(CONFIRM, {"code": bad}, format="json")
        assert response.status_code == 400, (bad, response.json())
    with tenant_scope(tenant_a):
        assert TOTPDevice.objects.get(user=user).confirmed_at is None
        assert not RecoveryCode.objects.filter(user=user).exists()


# ------------------------------------------------------------------------------ codes
@pytest.mark.django_db
def test_a_code_cannot_be_replayed_nor_an_older_one_used(tenant_a, roomy_login):
    user = make_user(tenant_a)
    secret, _ = turn_on(user)  # spent the code of step now-1
    now_code = code_at(secret)
    assert second_step(tenant_a, mfa_token_of(user), now_code).status_code == 200
    # The same code again, on a fresh sign-in: refused, and the challenge is not spent.
    token = mfa_token_of(user)
    assert_error(second_step(tenant_a, token, now_code), 401, "invalid_mfa_code")
    assert_error(second_step(tenant_a, token, code_at(secret, -1)), 401, "invalid_mfa_code")
    # The next step's code (a phone one step ahead) still works, with the same mfa_token.
    assert second_step(tenant_a, token, code_at(secret, 1)).status_code == 200


@pytest.mark.django_db
def test_clock_skew_of_more_than_one_step_is_refused(tenant_a, roomy_login):
    """At enrolment no code was used yet, so only the clock decides there: a phone two or
    more steps behind or ahead is refused, one step behind is accepted."""
    user = make_user(tenant_a)
    access = access_of(user)
    client = bearer(tenant_a, access)
    secret = enrol(user, access)
    steady_step()
    for steps in (-3, -2, 2, 3):
        response = client.post(CONFIRM, {"code": code_at(secret, steps)}, format="json")
        assert_error(response, 400, "invalid_mfa_code")
    with tenant_scope(tenant_a):
        assert TOTPDevice.objects.get(user=user).confirmed_at is None
    assert client.post(CONFIRM, {"code": code_at(secret, -1)}, format="json").status_code == 200
    # At sign-in: two steps ahead is refused, one step ahead accepted (same mfa_token).
    token = mfa_token_of(user)
    for steps in (2, 3):
        assert_error(second_step(tenant_a, token, code_at(secret, steps)), 401, "invalid_mfa_code")
    assert challenge_rows(tenant_a)[-1][1:] == (None, 2)
    assert second_step(tenant_a, token, code_at(secret, 1)).status_code == 200


@pytest.mark.django_db
def test_recovery_codes_work_once_in_any_spelling(tenant_a, roomy_login):
    user = make_user(tenant_a)
    _, recovery = turn_on(user)
    first, second = recovery[0], recovery[1]
    assert second_step(tenant_a, mfa_token_of(user), first).status_code == 200
    assert_error(second_step(tenant_a, mfa_token_of(user), first), 401, "invalid_mfa_code")
    spelled = f"  {second.replace('-', '').upper()} "
    assert second_step(tenant_a, mfa_token_of(user), spelled).status_code == 200
    with tenant_scope(tenant_a):
        assert RecoveryCode.objects.filter(user=user, used_at=None).count() == 8


# ------------------------------------------------------------------------------ the mfa_token
@pytest.mark.django_db
def test_a_spent_mfa_token_is_dead(tenant_a, roomy_login):
    user = make_user(tenant_a)
    secret, _ = turn_on(user)
    token = mfa_token_of(user)
    assert second_step(tenant_a, token, code_at(secret)).status_code == 200
    assert_error(second_step(tenant_a, token, code_at(secret, 1)), 401, "mfa_token_invalid")


@pytest.mark.django_db
def test_an_expired_mfa_token_is_dead(tenant_a, roomy_login, settings):
    user = make_user(tenant_a)
    secret, _ = turn_on(user)
    token = mfa_token_of(user)
    with tenant_scope(tenant_a):
        MfaChallenge.objects.filter(user=user).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    before = challenge_rows(tenant_a)
    assert_error(second_step(tenant_a, token, code_at(secret)), 401, "mfa_token_invalid")
    assert challenge_rows(tenant_a) == before
    # The TTL is the setting's: with 0 a token is born expired.
    settings.ATRIUM_MFA_TOKEN_TTL = 0
    assert_error(
        second_step(tenant_a, mfa_token_of(user), code_at(secret)), 401, "mfa_token_invalid"
    )


@pytest.mark.django_db
def test_an_mfa_token_dies_with_a_sign_out_or_after_too_many_wrong_codes(
    tenant_a, roomy_login, settings
):
    user = make_user(tenant_a)
    secret, _ = turn_on(user)
    # Bound to the token version: a sign-out everywhere (or a password change) kills it.
    token = mfa_token_of(user)
    with tenant_scope(tenant_a):
        user_tokens_revoke(user=User.objects.get(pk=user.pk), reason="logged_out")
    assert_error(second_step(tenant_a, token, code_at(secret)), 401, "mfa_token_invalid")

    settings.ATRIUM_MFA_TOKEN_MAX_ATTEMPTS = 3
    token = mfa_token_of(user)
    for _ in range(3):
        assert_error(second_step(tenant_a, token, "000000"), 401, "invalid_mfa_code")
    assert_error(second_step(tenant_a, token, code_at(secret)), 401, "mfa_token_invalid")


@pytest.mark.parametrize(
    "payload",
    [
        {"mfa_token": "not-a-token-of-ours-but-long-enough", "code": "123456"},
        {"mfa_token": "short", "code": "123456"},
        {"mfa_token": "x" * 201, "code": "123456"},
        {"mfa_token": 12345678901234567890123, "code": "123456"},
        {"mfa_token": ["a" * 43], "code": "123456"},
        {"code": "123456"},
        {"mfa_token": "a" * 43},
        {},
    ],
)
@pytest.mark.django_db
def test_malformed_second_steps_are_refused(tenant_a, payload):
    before = challenge_rows(tenant_a)
    response = anonymous(tenant_a).post(TOKEN_MFA, payload, format="json")
    assert response.status_code in (400, 401), response.json()
    assert "access" not in response.json()
    if response.status_code == 401:
        assert codes(response) == ["mfa_token_invalid"]
    assert challenge_rows(tenant_a) == before


@pytest.mark.django_db
def test_second_steps_are_rate_limited_with_the_login_limits(tenant_a, settings):
    settings.ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "1000/min", "per_ip": "1000/min"}
    user = make_user(tenant_a)
    secret, _ = turn_on(user)
    token = mfa_token_of(user)
    # The real per-e-mail budget from here: wrong codes spend it, then even a right one is 429.
    settings.ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "3/min", "per_ip": "1000/min"}
    settings.ATRIUM_MFA_TOKEN_MAX_ATTEMPTS = 100
    delete_keys("*:ratelimit:*")
    for _ in range(3):
        assert_error(second_step(tenant_a, token, "000000"), 401, "invalid_mfa_code")
    throttled = second_step(tenant_a, token, code_at(secret))
    assert_error(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) >= 1
    assert challenge_rows(tenant_a)[-1][1] is None  # not spent


# ------------------------------------------------------------------------------ turning it off
@pytest.mark.django_db
def test_turning_mfa_off_needs_the_password_and_a_code(tenant_a, roomy_login):
    user = make_user(tenant_a)
    secret, recovery = turn_on(user)
    access = second_step(tenant_a, mfa_token_of(user), code_at(secret)).json()["access"]
    client = bearer(tenant_a, access)

    def delete(payload):
        return client.delete(ENROL, payload, format="json")

    assert_error(delete({"password": "wrong", "code": recovery[0]}), 400, "invalid_password")
    assert_error(delete({"password": PASSWORD, "code": "000000"}), 400, "invalid_mfa_code")
    assert delete({"password": PASSWORD}).status_code == 400
    with tenant_scope(tenant_a):
        assert TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
        assert RecoveryCode.objects.filter(user=user, used_at=None).count() == 10
    assert delete({"password": PASSWORD, "code": recovery[0]}).status_code == 204
    with tenant_scope(tenant_a):
        assert not TOTPDevice.objects.filter(user=user).exists()
        assert not RecoveryCode.objects.filter(user=user).exists()
    assert sign_in(user).status_code == 200  # the password alone again
    with tenant_scope(tenant_a):
        actions = list(
            AuditEvent.objects.filter(target_id=str(user.pk), action__startswith="mfa.")
            .order_by("at")
            .values_list("action", flat=True)
        )
    assert actions == ["mfa.enabled", "mfa.disabled"]  # the refused attempts recorded nothing
    assert_error(delete({"password": PASSWORD, "code": recovery[1]}), 409, "mfa_not_enabled")


@pytest.mark.django_db
def test_turning_mfa_off_with_an_authenticator_code_and_not_a_spent_one(tenant_a, roomy_login):
    user = make_user(tenant_a)
    secret, _ = turn_on(user)
    access = second_step(tenant_a, mfa_token_of(user), code_at(secret)).json()["access"]
    client = bearer(tenant_a, access)
    # The code this sign-in spent is no good for turning it off.
    replayed = client.delete(ENROL, {"password": PASSWORD, "code": code_at(secret)}, format="json")
    assert_error(replayed, 400, "invalid_mfa_code")
    with tenant_scope(tenant_a):
        assert TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()
    done = client.delete(ENROL, {"password": PASSWORD, "code": code_at(secret, 1)}, format="json")
    assert done.status_code == 204, done.content
    with tenant_scope(tenant_a):
        assert not TOTPDevice.objects.filter(user=user).exists()
    assert sign_in(user).status_code == 200


@pytest.mark.django_db
def test_mfa_is_for_people_signed_in(tenant_a):
    for method, path in (("post", ENROL), ("post", CONFIRM), ("delete", ENROL)):
        response = getattr(anonymous(tenant_a), method)(path, {}, format="json")
        assert_error(response, 401, "not_authenticated")


# ------------------------------------------------------------------------------ the tenant's rule
def require_mfa(tenant: Tenant, on: bool, capture) -> None:
    with capture(execute=True):  # the directory bump runs after commit
        services.tenant_settings_update(slug=tenant.slug, require_mfa_for_admins=on)


@pytest.mark.django_db
def test_required_mfa_gates_owners_and_admins_until_they_enrol(
    tenant_a, roomy_login, django_capture_on_commit_callbacks
):
    admin, member = make_user(tenant_a, Role.ADMIN), make_user(tenant_a, Role.MEMBER)
    admin_access, member_access = access_of(admin), access_of(member)
    require_mfa(tenant_a, True, django_capture_on_commit_callbacks)

    gated = bearer(tenant_a, admin_access)
    for method, path in (
        ("get", "/api/v1/users/"),
        ("get", "/api/v1/catalog/products/"),
        ("get", "/api/v1/tenant/"),
        ("post", "/api/v1/users/"),
    ):
        response = getattr(gated, method)(path, {}, format="json")
        assert_error(response, 403, "mfa_enrolment_required")
    assert gated.get("/api/v1/users/me/").status_code == 200
    # Members are not concerned.
    assert bearer(tenant_a, member_access).get("/api/v1/users/").status_code == 200

    secret = enrol(admin, admin_access)
    steady_step()
    confirmed = gated.post(CONFIRM, {"code": code_at(secret)}, format="json")
    assert confirmed.status_code == 200, confirmed.json()
    assert gated.get("/api/v1/users/").status_code == 200
    # While required, it cannot be turned off.
    refused = gated.delete(
        ENROL, {"password": PASSWORD, "code": confirmed.json()["recovery_codes"][0]}, format="json"
    )
    assert_error(refused, 409, "mfa_required_by_tenant")

    require_mfa(tenant_a, False, django_capture_on_commit_callbacks)
    other_admin = make_user(tenant_a, Role.ADMIN)
    assert bearer(tenant_a, access_of(other_admin)).get("/api/v1/users/").status_code == 200


def queries_of(client: APIClient, path: str) -> int:
    client.get(path)  # warm: routing's directory, the throttles' scripts
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.django_db
def test_the_rule_costs_members_no_query(tenant_a, roomy_login, django_capture_on_commit_callbacks):
    """The flag comes from routing's record and the role from the user row the token check
    reads anyway: a member's request makes the same queries with the rule on."""
    member, admin = make_user(tenant_a, Role.MEMBER), make_user(tenant_a, Role.ADMIN)
    member_client = bearer(tenant_a, access_of(member))
    admin_client = bearer(tenant_a, access_of(admin))
    off = queries_of(member_client, "/api/v1/users/"), queries_of(admin_client, "/api/v1/users/me/")
    require_mfa(tenant_a, True, django_capture_on_commit_callbacks)
    on = queries_of(member_client, "/api/v1/users/"), queries_of(admin_client, "/api/v1/users/me/")
    assert on == off


# ------------------------------------------------------------------------------ purge
def test_an_mfa_token_is_refused_after_its_tenant_is_purged_and_re_created(live_db):
    """Challenges live in the tenant's schema: the purge takes them along, and a new tenant
    with the same slug, owner and password knows none of them."""
    slug = "mfa-ghost"
    live_db.append(slug)

    def create() -> User:
        tenant = provisioning.tenant_create(
            slug=slug, name="Ghost", owner_email=f"owner@{slug}.test", owner_password=PASSWORD
        ).tenant
        with tenant_scope(tenant):
            owner = User.objects.get()
        owner.tenant = tenant
        return owner

    owner = create()
    secret, _ = turn_on(owner)
    token = mfa_token_of(owner)
    services.tenant_purge(slug=slug)
    owner = create()
    turn_on(owner)
    assert_error(second_step(owner.tenant, token, code_at(secret)), 401, "mfa_token_invalid")


# ------------------------------------------------------------------------------ the tenant admin
def admin_login(user: User, code: str | None = None):
    client = Client(HTTP_HOST=host(user.tenant))
    form = {"username": user.email, "password": PASSWORD}
    if code is not None:
        form["code"] = code
    return client, client.post("/admin/login/?next=/admin/", form)


@pytest.mark.django_db
def test_the_tenant_admin_asks_for_the_code(tenant_a, roomy_login):
    admin = make_user(tenant_a, Role.ADMIN)
    secret, recovery = turn_on(admin)
    spent = code_at(secret, -1)  # the confirmation's code (turn_on left >= 5 s in the step)
    for code, message in (
        (None, b"uses multi-factor authentication"),
        ("", b"uses multi-factor authentication"),
        ("000000", b"That code is not valid"),
        (spent, b"That code is not valid"),
        (code_at(secret, -3), b"That code is not valid"),  # too old
    ):
        client, response = admin_login(admin, code)
        assert response.status_code == 200, code
        assert message in response.content, (code, response.content[:500])
        assert client.get("/admin/").status_code == 302  # still signed out
    client, response = admin_login(admin, code_at(secret))
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200
    # A recovery code works too, once.
    assert admin_login(admin, recovery[0])[1].status_code == 302
    assert admin_login(admin, recovery[0])[1].status_code == 200


@pytest.mark.django_db
def test_the_tenant_admin_refuses_an_admin_who_must_enrol(
    tenant_a, roomy_login, django_capture_on_commit_callbacks
):
    admin = make_user(tenant_a, Role.ADMIN)
    assert admin_login(admin)[1].status_code == 302
    require_mfa(tenant_a, True, django_capture_on_commit_callbacks)
    client, response = admin_login(admin)
    assert response.status_code == 200
    assert b"requires multi-factor authentication" in response.content
    assert client.get("/admin/").status_code == 302


# ------------------------------------------------------------------------------ races
def test_concurrent_second_steps_with_one_token_sign_in_once(live_db, tenant_a, settings):
    """Six clients send the same mfa_token at once, each with its own valid recovery code,
    on separate connections: exactly one gets a pair, one recovery code is spent. (In one
    process the test client's requests overlap little; the row locks in
    ``mfa_challenge_complete`` are what holds under real concurrency.)"""
    settings.ATRIUM_LOGIN_RATE_LIMITS = ROOMY_LOGIN
    threads_count = 6
    with tenant_scope(tenant_a):
        user = User.objects.create_user(
            email=f"race-{uuid.uuid4().hex[:6]}@alpha.test", password=PASSWORD
        )
        # Committed: made directly (not by the services), so no audit row outlives the test.
        TOTPDevice.objects.create(
            user=user, secret=pyotp.random_base32(), confirmed_at=timezone.now()
        )
        recovery = mfa_services._recovery_codes_replace(user)
    user.tenant = tenant_a
    try:
        token = mfa_token_of(user)
        barrier = threading.Barrier(threads_count)
        results: list[int] = []

        def spend(code: str) -> None:
            try:
                client = anonymous(tenant_a)
                barrier.wait(timeout=30)
                response = client.post(TOKEN_MFA, {"mfa_token": token, "code": code}, format="json")
                results.append(response.status_code)
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=spend, args=(code,)) for code in recovery[:threads_count]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == [200] + [401] * (threads_count - 1), results
        with tenant_scope(tenant_a):
            assert OutstandingToken.objects.filter(user=user).count() == 1
            assert RecoveryCode.objects.filter(user=user, used_at__isnull=False).count() == 1
    finally:
        with tenant_scope(tenant_a):
            User.objects.filter(pk=user.pk).delete()
