"""The tenant's own settings: ``GET``/``PATCH /api/v1/tenant/`` (who may, what is refused,
what changes where) and the CLI's ``tenants settings``."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from atrium.platform.accounts.models import Role, User
from atrium.platform.audit.models import AuditEvent
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.directory import invalidate_directory
from atrium.tenants.models import PlatformAuditEvent, Tenant
from tests.fixtures import run_cli

URL = "/api/v1/tenant/"
ORIGIN = "https://app.example.com"


def as_user(user: User, host: str = "alpha.localhost") -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.force_authenticate(user)
    return client


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def tenant_row(slug: str) -> tuple:
    with public_scope():
        return Tenant.objects.values_list("name", "require_mfa_for_admins", "cors_origins").get(
            slug=slug
        )


@pytest.fixture
def people(tenant_a):
    with tenant_scope(tenant_a):
        return {
            "owner": User.objects.get(email="owner@alpha.test"),
            "admin": User.objects.create_user(email="admin@alpha.test", role=Role.ADMIN),
            "member": User.objects.create_user(email="member@alpha.test", role=Role.MEMBER),
        }


@pytest.mark.django_db
def test_owners_and_admins_read_the_settings_members_do_not(people):
    expected = {
        "slug": "alpha",
        "name": "Alpha Ltd",
        "require_mfa_for_admins": False,
        "cors_allowed_origins": [],
    }
    for who in ("owner", "admin"):
        response = as_user(people[who]).get(URL)
        assert (response.status_code, response.json()) == (200, expected), who
    refused = as_user(people["member"]).get(URL)
    assert (refused.status_code, codes(refused)) == (403, ["permission_denied"])
    assert APIClient(HTTP_HOST="alpha.localhost").get(URL).status_code == 401


@pytest.mark.django_db
def test_only_owners_change_the_settings_and_every_process_sees_it(
    people, tenant_a, django_capture_on_commit_callbacks
):
    before = tenant_row("alpha")
    for who in ("admin", "member"):
        response = as_user(people[who]).patch(URL, {"name": "Hijacked"}, format="json")
        assert (response.status_code, codes(response)) == (403, ["permission_denied"]), who
    assert tenant_row("alpha") == before

    change = {
        "name": "  Alpha Group  ",
        "require_mfa_for_admins": True,
        "cors_allowed_origins": ["HTTPS://App.Example.com:443", ORIGIN],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(people["owner"]).patch(URL, change, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "slug": "alpha",
        "name": "Alpha Group",
        "require_mfa_for_admins": True,
        "cors_allowed_origins": [ORIGIN],
    }
    assert tenant_row("alpha") == ("Alpha Group", True, [ORIGIN])
    with tenant_scope(tenant_a):
        recorded = AuditEvent.objects.get(action="tenant.settings_changed")
    assert recorded.actor_id == str(people["owner"].pk)
    assert recorded.changes == {
        "name": ["Alpha Ltd", "Alpha Group"],
        "require_mfa_for_admins": [False, True],
        "cors_origins": [[], [ORIGIN]],
    }
    # Routing carries the settings: the next request sees them (name, CORS, the MFA rule).
    home = APIClient(HTTP_HOST="alpha.localhost").get("/").json()
    assert home["name"] == "Alpha Group"
    preflight = APIClient(HTTP_HOST="alpha.localhost").options(
        "/api/v1/users/", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    gated = as_user(people["admin"]).get("/api/v1/users/")
    # force_authenticate skips the token check, where the gate lives: the admin passes here,
    # the gate itself is tested with real tokens in test_mfa.py.
    assert gated.status_code == 200
    # Clearing the origins is a change too.
    with django_capture_on_commit_callbacks(execute=True):
        cleared = as_user(people["owner"]).patch(
            URL, {"cors_allowed_origins": [], "require_mfa_for_admins": False}, format="json"
        )
    assert cleared.json()["cors_allowed_origins"] == []
    assert tenant_row("alpha") == ("Alpha Group", False, [])


@pytest.mark.parametrize(
    ("payload", "attr", "code"),
    [
        (
            {"cors_allowed_origins": ["https://app.example.com/path"]},
            "cors_allowed_origins",
            "origin_invalid",
        ),
        (
            {"cors_allowed_origins": ["https://*.example.com"]},
            "cors_allowed_origins",
            "origin_invalid",
        ),
        ({"cors_allowed_origins": "https://app.example.com"}, "cors_allowed_origins", "not_a_list"),
        (
            {"cors_allowed_origins": [f"https://a{n}.example.com" for n in range(51)]},
            "cors_allowed_origins",
            "max_length",
        ),
        ({"name": "   "}, "name", "blank"),
        ({"name": "x" * 201}, "name", "max_length"),
        ({"name": 42}, "name", "invalid"),
        ({"require_mfa_for_admins": "maybe"}, "require_mfa_for_admins", "invalid"),
        ({"slug": "taken-over"}, "slug", "unknown_field"),
        ({"plan": "enterprise"}, "plan", "unknown_field"),
        ({"status": "active"}, "status", "unknown_field"),
    ],
)
@pytest.mark.django_db
def test_bad_settings_are_refused_and_change_nothing(people, tenant_a, payload, attr, code):
    before = tenant_row("alpha")
    mixed = {"name": "Should Not Stick", **payload}
    response = as_user(people["owner"]).patch(URL, mixed, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert (errors[0]["attr"], errors[0]["code"]) == (attr, code), errors
    assert tenant_row("alpha") == before
    with tenant_scope(tenant_a):
        assert not AuditEvent.objects.filter(action="tenant.settings_changed").exists()


# ---------------------------------------------------------------------------- CLI
def test_cli_shows_and_changes_the_settings(live_db, tenant_a):
    slug = tenant_a.slug
    try:
        shown = run_cli("tenants", "settings", slug, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout) == {
            "slug": slug,
            "name": "Alpha Ltd",
            "require_mfa_for_admins": False,
            "cors_allowed_origins": [],
        }
        changed = run_cli(
            "tenants",
            "settings",
            slug,
            "--require-mfa-for-admins",
            "on",
            "--cors-origin",
            "HTTPS://App.Example.com",
            "--cors-origin",
            "http://localhost:3000",
            "--name",
            "Alpha Renamed",
            "--json",
        )
        assert changed.returncode == 0, changed.stderr
        assert json.loads(changed.stdout) == {
            "slug": slug,
            "name": "Alpha Renamed",
            "require_mfa_for_admins": True,
            "cors_allowed_origins": [ORIGIN, "http://localhost:3000"],
            "changed": ["cors_origins", "name", "require_mfa_for_admins"],
        }
        assert tenant_row(slug) == ("Alpha Renamed", True, [ORIGIN, "http://localhost:3000"])
        with public_scope():
            logged = PlatformAuditEvent.objects.filter(
                action="tenant.settings_changed", tenant_slug=slug
            ).latest("at")
        assert logged.details["changes"]["require_mfa_for_admins"] == [False, True]
        # The directory was bumped by the CLI process: this process sees the change.
        assert APIClient(HTTP_HOST="alpha.localhost").get("/").json()["name"] == "Alpha Renamed"

        again = run_cli("tenants", "settings", slug, "--require-mfa-for-admins", "on")
        assert again.returncode == 0 and "Nothing changed" in again.stdout, again.stdout
        text = run_cli(
            "tenants", "settings", slug, "--require-mfa-for-admins", "off", "--no-cors-origins"
        )
        assert text.returncode == 0, text.stderr
        assert "require_mfa_for_admins: off" in text.stdout
        assert tenant_row(slug) == ("Alpha Renamed", False, [])

        for args, exit_code in [
            ((slug, "--require-mfa-for-admins", "maybe"), 2),
            ((slug, "--cors-origin", "https://app.example.com/path"), 1),
            ((slug, "--name", "   "), 1),
            ((slug, "--cors-origin", ORIGIN, "--no-cors-origins"), 2),
            (("no-such-tenant", "--require-mfa-for-admins", "on"), 1),
        ]:
            refused = run_cli("tenants", "settings", *args)
            assert refused.returncode == exit_code, (args, refused.stdout, refused.stderr)
            assert len(refused.stderr.strip().splitlines()) == 1, (args, refused.stderr)
            assert "Traceback" not in refused.stderr
        assert tenant_row(slug) == ("Alpha Renamed", False, [])
    finally:
        with public_scope():
            Tenant.objects.filter(slug=slug).update(
                name="Alpha Ltd", require_mfa_for_admins=False, cors_origins=[]
            )
        invalidate_directory()
