"""The admin sign-in shares the API's login limits (issue 11, item 4).

The tenant admin's (and the platform admin's) login form counts every attempt in the same
GCRA buckets as ``/api/v1/auth/token/`` (per tenant + canonical e-mail, and per client
address), before the password is checked; over either limit it answers 429 with
``Retry-After`` and a message on the login page, and with Redis away it refuses (503).
"""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import Client
from django_redis import get_redis_connection

from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import public_scope, tenant_scope

from .api.test_throttling import redis_down_settings

PASSWORD = "Admin-Password-4-staff"
HOST = "alpha.localhost"
PER_EMAIL = int(settings.ATRIUM_LOGIN_RATE_LIMITS["per_email"].split("/")[0])


@pytest.fixture
def staff(tenant_a) -> User:
    with tenant_scope(tenant_a):
        user = User.objects.create_user(
            email=f"staff-{uuid.uuid4().hex[:6]}@alpha.test", password=PASSWORD
        )
        user.apply_role(Role.ADMIN)
        user.save()
        return user


def admin_login(client: Client, email: str, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password})


def api_login(email: str, password: str, address: str = "127.0.0.1"):
    return Client(HTTP_HOST=HOST, REMOTE_ADDR=address).post(
        "/api/v1/auth/token/",
        {"email": email, "password": password},
        content_type="application/json",
    )


def assert_locked_out(response) -> None:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) >= 1
    assert b"Too many sign-in attempts" in response.content
    assert b'name="password"' in response.content  # the login page again, with the message


@pytest.mark.django_db
def test_eight_wrong_passwords_then_the_right_one_is_refused(tenant_a, staff):
    client = Client(HTTP_HOST=HOST)
    answers = [admin_login(client, staff.email, "wrong-password").status_code for _ in range(8)]
    # The first attempts are ordinary failures (the form again), the rest are refused.
    assert answers[:PER_EMAIL] == [200] * PER_EMAIL
    assert answers[PER_EMAIL:] == [429] * (8 - PER_EMAIL)
    refused = admin_login(client, staff.email, PASSWORD)
    assert_locked_out(refused)
    assert "sessionid" not in refused.cookies
    assert client.get("/admin/").status_code == 302  # not signed in
    # A look-alike spelling is the same account and the same lock.
    assert_locked_out(admin_login(client, staff.email.upper().replace("S", "\u017f"), PASSWORD))


@pytest.mark.django_db
def test_api_failures_lock_the_admin_and_admin_failures_lock_the_api(tenant_a, staff):
    with tenant_scope(tenant_a):
        other = User.objects.create_user(email=f"x-{staff.email}", password=PASSWORD)
        other.apply_role(Role.ADMIN)
        other.save()
    client = Client(HTTP_HOST=HOST)
    # staff: half the budget spent on the API, half in the admin, then both refuse.
    for n in range(PER_EMAIL):
        if n % 2:
            assert admin_login(client, staff.email, "wrong").status_code == 200
        else:
            assert api_login(staff.email, "wrong").status_code == 401
    assert_locked_out(admin_login(client, staff.email, PASSWORD))
    assert api_login(staff.email, PASSWORD).status_code == 429
    # other: the admin alone spends the budget, and the API refuses the right password.
    for _ in range(PER_EMAIL):
        assert admin_login(Client(HTTP_HOST=HOST), other.email, "wrong").status_code == 200
    locked = api_login(other.email, PASSWORD, address="198.51.100.77")
    assert locked.status_code == 429
    assert locked.json()["errors"][0]["code"] == "throttled"


@pytest.mark.django_db
def test_the_per_address_limit_is_shared_too(tenant_a, staff, settings):
    settings.ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "100/min", "per_ip": "4/min"}
    address = "198.51.100.90"
    client = Client(HTTP_HOST=HOST, REMOTE_ADDR=address)
    assert api_login(f"a-{staff.email}", "wrong", address).status_code == 401
    assert api_login(f"b-{staff.email}", "wrong", address).status_code == 401
    assert admin_login(client, f"c-{staff.email}", "wrong").status_code == 200
    assert admin_login(client, f"d-{staff.email}", "wrong").status_code == 200
    assert_locked_out(admin_login(client, staff.email, PASSWORD))
    assert api_login(staff.email, PASSWORD, address).status_code == 429
    # Another address is not locked.
    assert admin_login(Client(HTTP_HOST=HOST), staff.email, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_right_password_within_the_limit_signs_in(tenant_a, staff):
    client = Client(HTTP_HOST=HOST)
    assert admin_login(client, staff.email, "wrong").status_code == 200
    assert admin_login(client, staff.email, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_login_fails_closed_without_redis(tenant_a, staff):
    with redis_down_settings():
        refused = admin_login(Client(HTTP_HOST=HOST), staff.email, PASSWORD)
    assert refused.status_code == 503
    assert int(refused["Retry-After"]) >= 1
    assert b"temporarily unavailable" in refused.content


@pytest.mark.django_db
def test_the_platform_admin_is_limited_too():
    with public_scope():
        operator = User.objects.create_superuser(email="ops-limit@atrium.test", password=PASSWORD)
    client = Client(HTTP_HOST="localhost")
    for _ in range(PER_EMAIL):
        assert admin_login(client, operator.email, "wrong").status_code == 200
    assert_locked_out(admin_login(client, operator.email, PASSWORD))
    keys = {k.decode() for k in get_redis_connection("default").scan_iter(match="*ratelimit:*")}
    assert keys and all(key.startswith("p:ratelimit:login-") for key in keys)
