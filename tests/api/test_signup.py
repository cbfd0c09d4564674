"""Sign-up on the platform host: request, verification mail, confirmation into a tenant made
as ``tenants create`` makes one, slug rules, rate limits, the switch, and the full flow over
real HTTP with a real worker and SMTP server."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone
from rest_framework.test import APIClient

from atrium.conf import atrium_settings
from atrium.platform.accounts.models import User
from atrium.platform.signup.models import PendingSignup
from atrium.tenants import pool, provisioning
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import PlatformAuditEvent, Tenant
from config.settings.mail import mailer_from_url
from tests import driver
from tests.fixtures import REPO_ROOT, cli_env

SIGNUP = "/api/v1/signup/"
CONFIRM = "/api/v1/signup/confirm/"
PLATFORM = "localhost"
PASSWORD = "Sturdy-Lantern-Orbit-77"
CONFIRM_LINK = re.compile(r"http://localhost:8000/signup/confirm\?token=([\w-]+)")
INVITE_LINK = re.compile(r"/accept-invitation\?token=([\w-]+)")


@pytest.fixture
def signups(live_db, smtp_sink):
    """Committed sign-ups (the mail goes out after commit); every tenant they make and
    every pending row is removed after the test."""
    yield live_db
    with public_scope():
        PendingSignup.objects.all().delete()
    live_db.extend(slug for slug in _made if slug not in live_db)
    _made.clear()


_made: list[str] = []


def platform() -> APIClient:
    return APIClient(HTTP_HOST=PLATFORM)


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def sign_up(slug: str, email: str = "founder@example.test", **extra):
    body = {"company_name": f"{slug} Inc.", "slug": slug, "email": email, "password": PASSWORD}
    response = platform().post(SIGNUP, {**body, **extra})
    if response.status_code == 202:  # a tenant the test may make: purged after it
        _made.append(slug)
    return response


def token_from(sink, email: str, count: int = 1) -> str:
    text = sink.wait_for(to=email, count=count).get_body(("plain",)).get_content()
    return CONFIRM_LINK.search(text).group(1)


def pending(slug: str) -> list[PendingSignup]:
    with public_scope():
        return list(PendingSignup.objects.filter(slug=slug))


def tenant_exists(slug: str) -> bool:
    with public_scope():
        return Tenant.objects.filter(slug=slug).exists()


def test_sign_up_and_confirm_make_a_tenant_whose_owner_is_signed_in(signups, smtp_sink):
    response = sign_up("rocket-co", email="Founder@Rocket.TEST")
    assert response.status_code == 202, response.json()
    assert (response.json()["slug"], response.json()["email"]) == (
        "rocket-co",
        "founder@rocket.test",
    )
    message = smtp_sink.wait_for(to="founder@rocket.test")
    assert message["From"].addresses[0].display_name == "Atrium"
    assert "Atrium" in message["Subject"] and "rocket-co Inc." in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = CONFIRM_LINK.search(text).group(1)
    assert f'href="http://localhost:8000/signup/confirm?token={token}"' in html
    assert text.count(token) >= 2
    (row,) = pending("rocket-co")
    # Only hashes are kept: of the token and of the password.
    assert token not in row.token_hash and PASSWORD not in row.password_hash
    assert check_password(PASSWORD, row.password_hash)
    assert not tenant_exists("rocket-co")

    with public_scope():
        spares_before = set(pool.spare_schemas())
    confirmed = APIClient(
        HTTP_HOST=PLATFORM, HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="203.0.113.7"
    ).post(CONFIRM, {"token": token})
    assert confirmed.status_code == 201, confirmed.json()
    body = confirmed.json()
    assert body["url"] == "http://rocket-co.localhost:8000/"
    with public_scope():
        tenant = Tenant.objects.get(slug="rocket-co")
        assert tenant.name == "rocket-co Inc." and tenant.status == "active"
        # Made from the spare pool, as `tenants create` makes tenants.
        assert spares_before - set(pool.spare_schemas())
    tenant_host = APIClient(HTTP_HOST="rocket-co.localhost")
    me = tenant_host.get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["role"]) == ("founder@rocket.test", "owner")
    assert me.json()["last_login"] is not None  # confirming signs the owner in
    # The owner's first session is listed with the client that confirmed.
    sessions = tenant_host.get(
        "/api/v1/auth/sessions/", HTTP_AUTHORIZATION=f"Bearer {body['access']}"
    ).json()
    assert [(s["user_agent"], s["ip_address"]) for s in sessions] == [
        ("Firefox/140", "203.0.113.7")
    ]
    login = tenant_host.post(
        "/api/v1/auth/token/", {"email": "founder@rocket.test", "password": PASSWORD}
    )
    assert login.status_code == 200
    refreshed = tenant_host.post("/api/v1/auth/token/refresh/", {"refresh": body["refresh"]})
    assert refreshed.status_code == 200
    # The pair belongs to the new tenant only.
    foreign = APIClient(HTTP_HOST="alpha.localhost").get(
        "/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}"
    )
    assert foreign.status_code == 401

    # The platform's audit log names the sign-up as who made the tenant.
    with public_scope():
        entry = PlatformAuditEvent.objects.get(action="tenant.created", tenant_slug="rocket-co")
    assert (entry.source, entry.actor) == ("signup", "founder@rocket.test")
    assert entry.details["via"] == "signup" and entry.details["schema_source"] == "spare"

    # The token works once; the spent request keeps no password hash.
    again = platform().post(CONFIRM, {"token": token})
    assert (again.status_code, codes(again)) == (400, ["signup_used"])
    (row,) = pending("rocket-co")
    assert row.confirmed_at is not None and row.password_hash == ""


@pytest.mark.parametrize(
    ("slug", "status", "code"),
    [
        ("Upper-Case", 400, "slug_invalid"),
        ("x", 400, "slug_invalid"),
        ("ends-", 400, "slug_invalid"),
        ("9lives", 400, "slug_invalid"),
        ("admin", 400, "slug_reserved"),
        ("signup", 400, "slug_reserved"),
        ("pg-stuff", 400, "slug_reserved"),
        ("alpha", 409, "slug_taken"),  # an existing tenant
    ],
)
def test_slugs_follow_the_cli_rules(signups, smtp_sink, slug, status, code):
    response = sign_up(slug)
    assert (response.status_code, codes(response)) == (status, [code])
    assert pending(slug) == []
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"password": "password1234"}, "password_too_weak"),
        ({"password": "short"}, "password_too_weak"),
        ({"email": "not-an-email"}, "invalid"),
        ({"company_name": "   "}, "blank"),
        ({"plan": "enterprise"}, "unknown_field"),
    ],
)
def test_bad_sign_up_input_is_refused_and_stores_nothing(signups, smtp_sink, payload, code):
    response = sign_up("bad-input", **payload)
    assert response.status_code == 400
    assert codes(response) == [code]
    assert pending("bad-input") == []
    assert smtp_sink.messages == []


def test_a_pending_sign_up_holds_its_slug_for_its_own_address_only(signups, smtp_sink):
    assert sign_up("held-co", email="first@example.test").status_code == 202
    first = token_from(smtp_sink, "first@example.test")
    other = sign_up("held-co", email="second@example.test")
    assert (other.status_code, codes(other)) == (409, ["slug_taken"])
    # The same address again: a new link, and the first one is dead.
    assert sign_up("held-co", email="FIRST@example.test").status_code == 202
    second = token_from(smtp_sink, "first@example.test", count=2)
    assert second != first
    assert codes(platform().post(CONFIRM, {"token": first})) == ["signup_invalid"]
    # Once the hold expires, another address may take the slug.
    with public_scope():
        PendingSignup.objects.filter(slug="held-co").update(expires_at=timezone.now())
    assert sign_up("held-co", email="second@example.test").status_code == 202
    assert codes(platform().post(CONFIRM, {"token": second})) == ["signup_invalid"]
    assert [row.email for row in pending("held-co")] == ["second@example.test"]


def test_unconfirmed_requests_past_their_time_are_cleared_by_later_sign_ups(signups, smtp_sink):
    assert sign_up("stale-co", email="stale@example.test").status_code == 202
    with public_scope():
        PendingSignup.objects.filter(slug="stale-co").update(expires_at=timezone.now())
    assert sign_up("fresh-co", email="fresh@example.test").status_code == 202
    assert pending("stale-co") == []
    assert len(pending("fresh-co")) == 1


def test_a_slug_taken_meanwhile_is_refused_at_confirmation(signups, smtp_sink):
    assert sign_up("race-co").status_code == 202
    token = token_from(smtp_sink, "founder@example.test")
    provisioning.tenant_create(slug="race-co", name="Quicker", owner_email="q@quick.test")
    response = platform().post(CONFIRM, {"token": token})
    assert (response.status_code, codes(response)) == (409, ["slug_taken"])
    (row,) = pending("race-co")
    assert row.confirmed_at is None
    with public_scope():
        assert not PlatformAuditEvent.objects.filter(tenant_slug="race-co", source="signup")
    with public_scope():
        tenant = Tenant.objects.get(slug="race-co")
    with tenant_scope(tenant):
        assert list(User.objects.values_list("email", flat=True)) == ["q@quick.test"]


@pytest.mark.parametrize("token", ["", "x" * 129, 42, None, "no-such-token", "' OR 1=1 --"])
def test_malformed_or_unknown_confirmation_tokens_are_refused(signups, token):
    with public_scope():
        tenants_before = Tenant.objects.count()
    response = platform().post(CONFIRM, {"token": token})
    assert response.status_code == 400
    assert codes(response)[0] in {"signup_invalid", "blank", "max_length", "invalid", "null"}
    with public_scope():
        assert Tenant.objects.count() == tenants_before


def test_an_expired_sign_up_is_refused_and_makes_nothing(signups, smtp_sink, settings):
    settings.ATRIUM_SIGNUP_TTL = 60
    assert sign_up("late-co").status_code == 202
    (row,) = pending("late-co")
    assert timedelta(seconds=55) < row.expires_at - row.created_at <= timedelta(seconds=60)
    token = token_from(smtp_sink, "founder@example.test")
    with public_scope():
        PendingSignup.objects.filter(slug="late-co").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    response = platform().post(CONFIRM, {"token": token})
    assert (response.status_code, codes(response)) == (400, ["signup_expired"])
    assert not tenant_exists("late-co")


def test_sign_up_is_limited_per_e_mail(signups, smtp_sink):
    assert atrium_settings.SIGNUP_RATE_LIMITS == {"per_ip": "10/h", "per_email": "3/h"}
    for n in range(3):
        assert sign_up(f"mail-{n}", email="Busy@example.test").status_code == 202
    refused = sign_up("mail-3", email="busy@EXAMPLE.test")
    assert (refused.status_code, codes(refused)) == (429, ["throttled"])
    assert int(refused["Retry-After"]) > 0
    assert pending("mail-3") == []
    assert sign_up("mail-3", email="calm@example.test").status_code == 202


def test_sign_up_is_limited_per_client_address(signups, smtp_sink, settings):
    settings.ATRIUM_SIGNUP_RATE_LIMITS = {"per_ip": "2/h", "per_email": "3/h"}
    assert sign_up("ip-0", email="a@example.test").status_code == 202
    assert sign_up("ip-1", email="b@example.test").status_code == 202
    refused = sign_up("ip-2", email="c@example.test")
    assert (refused.status_code, codes(refused)) == (429, ["throttled"])
    assert pending("ip-2") == []


def test_sign_up_exists_on_the_platform_host_only(signups, tenant_a):
    tenant_host = APIClient(HTTP_HOST="alpha.localhost")
    for path in (SIGNUP, CONFIRM):
        response = tenant_host.post(path, {"token": "x", "slug": "nope"})
        assert (response.status_code, codes(response)) == (404, ["not_found"])
    assert pending("nope") == []


def test_sign_up_switched_off_is_a_404(signups, smtp_sink, settings):
    settings.ATRIUM_SIGNUP_ENABLED = False
    for path in (SIGNUP, CONFIRM):
        response = platform().post(path, {"token": "x"})
        assert (response.status_code, codes(response)) == (404, ["not_found"])
    assert sign_up("off-co").status_code == 404
    assert pending("off-co") == []


@pytest.mark.parametrize(
    ("module", "value", "expected"),
    [
        ("config.settings.prod", None, "False"),
        ("config.settings.dev", None, "True"),
        ("config.settings.dev", "0", "False"),
        ("config.settings.dev", "false", "False"),
        ("config.settings.prod", "1", "True"),
        ("config.settings.prod", "true", "True"),
    ],
)
def test_the_switch_is_off_in_production_and_on_in_development(module, value, expected):
    env = {**cli_env(), "DJANGO_SETTINGS_MODULE": module, "SECRET_KEY": "s" * 64}
    env.pop("ATRIUM_SIGNUP_ENABLED", None)
    if value is not None:
        env["ATRIUM_SIGNUP_ENABLED"] = value
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from atrium.conf import atrium_settings; "
            "print(atrium_settings.SIGNUP_ENABLED)",
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == expected


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_smtp_outage_keeps_the_sign_up_and_a_retry_mails_again(
    signups, smtp_sink, settings, caplog
):
    working = settings.MAILERS
    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{_closed_port()}/?timeout=2")}
    with caplog.at_level(logging.ERROR, logger="atrium.platform.mail"):
        assert sign_up("quiet-co").status_code == 202
    assert any("could not queue signup/verify" in r.getMessage() for r in caplog.records)
    assert len(pending("quiet-co")) == 1
    settings.MAILERS = working
    assert sign_up("quiet-co").status_code == 202  # the same address asks again
    token = token_from(smtp_sink, "founder@example.test")
    assert platform().post(CONFIRM, {"token": token}).status_code == 201


def test_the_platform_schema_documents_sign_up(db):
    import yaml

    schema = yaml.safe_load(platform().get("/api/schema/").content)
    assert {"/api/v1/signup/", "/api/v1/signup/confirm/"} <= set(schema["paths"])
    operation = schema["paths"]["/api/v1/signup/"]["post"]
    assert operation["tags"] == ["signup"] and "202" in operation["responses"]
    assert "201" in schema["paths"]["/api/v1/signup/confirm/"]["post"]["responses"]
    tenant_paths = yaml.safe_load(
        APIClient(HTTP_HOST="alpha.localhost").get("/api/schema/").content
    )["paths"]
    assert "/api/v1/signup/" not in tenant_paths


def test_the_whole_flow_over_http_with_a_real_worker(signups, smtp_sink):
    """Sign up, confirm, invite and accept against a real server, the mail sent by a real
    Celery worker through the real SMTP server."""
    with driver.Worker(include=()) as worker, driver.Server(env=worker.sender_env()) as server:
        _made.append("flow-co")
        response = server.post(
            PLATFORM,
            SIGNUP,
            json={
                "company_name": "Flow Co",
                "slug": "flow-co",
                "email": "boss@flow.test",
                "password": PASSWORD,
            },
        )
        assert response.status_code == 202, response.text
        token = token_from(smtp_sink, "boss@flow.test")
        confirmed = server.post(PLATFORM, CONFIRM, json={"token": token})
        assert confirmed.status_code == 201, confirmed.text
        access = confirmed.json()["access"]
        host = "flow-co.localhost"
        invited = server.post(
            host,
            "/api/v1/invitations/",
            json={"email": "Crew@Flow.test", "role": "admin"},
            token=access,
        )
        assert invited.status_code == 201, invited.text
        message = smtp_sink.wait_for(to="crew@flow.test", timeout=30)
        assert "Flow Co" in message["Subject"]
        text = message.get_body(("plain",)).get_content()
        assert "http://flow-co.localhost:8000/accept-invitation?token=" in text
        invite_token = INVITE_LINK.search(text).group(1)
        accepted = server.post(
            host,
            "/api/v1/auth/invitations/accept/",
            json={"token": invite_token, "name": "Crew", "password": PASSWORD},
        )
        assert accepted.status_code == 201, accepted.text
        me = server.get(host, "/api/v1/users/me/", token=accepted.json()["access"])
        assert (me.json()["email"], me.json()["role"]) == ("crew@flow.test", "admin")
        assert "mail.send_tenant" in worker.output_since_start()
        assert "mail.send_platform" in worker.output_since_start()
