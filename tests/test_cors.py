"""CORS per tenant: strict origins, preflights without authentication, CORS headers for a
tenant's own allowed origins only, no SQL once warm, and the CLI and tenant admin that set
them. The real browser check is ``tests/browser/test_cors.py``."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from atrium.tenants import errors, services
from atrium.tenants.context import public_scope
from atrium.tenants.cors import validate_origin
from atrium.tenants.directory import invalidate_directory
from atrium.tenants.models import Tenant

from .fixtures import OWNER_PASSWORD, run_cli

APP = "https://app.alpha-example.com"
ACAO = "Access-Control-Allow-Origin"


# ------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:5173", "http://[::1]:5173"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_valid_origins_are_stored_as_browsers_send_them(raw, stored):
    assert validate_origin(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "*",
        "null",
        "https://*.example.com",
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://app.example.com?x=1",
        "https://app.example.com#top",
        "https://user:pw@app.example.com",
        "https://app.example.com:0",
        "https://app.example.com:99999",
        "https://-bad-.example.com",
        "https://b\u00fccher.example",
        "https://app.example.com\n",
        " https://app.example.com",
        "https://app .example.com",
        "https://",
    ],
)
def test_invalid_origins_are_refused_with_a_reason(raw):
    with pytest.raises(errors.OriginInvalid) as excinfo:
        validate_origin(raw)
    assert excinfo.value.code == "origin_invalid"
    assert "origin" in excinfo.value.message.lower()


# --------------------------------------------------------------------------- HTTP
@pytest.fixture
def allowed(tenant_a, django_capture_on_commit_callbacks):
    """alpha allows APP (the routing directory is invalidated by the real commit hook)."""
    with django_capture_on_commit_callbacks(execute=True):
        services.cors_origins_set(slug=tenant_a.slug, origins=[APP])
    yield APP
    invalidate_directory()


def token_for(host: str, email: str) -> str:
    response = Client(HTTP_HOST=host).post(
        "/api/v1/auth/token/",
        {"email": email, "password": OWNER_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["access"]


def preflight(host: str, origin: str, path: str = "/api/v1/users/me/"):
    return Client(HTTP_HOST=host).options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )


@pytest.mark.django_db
def test_preflight_of_an_allowed_origin_is_answered_without_authentication(allowed):
    response = preflight("alpha.localhost", allowed)
    assert response.status_code == 200
    assert response[ACAO] == allowed
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "x-request-id" in response["Access-Control-Allow-Headers"]
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response
    assert "origin" in response["Vary"].lower()


@pytest.mark.django_db
def test_requests_of_an_allowed_origin_get_cors_headers(allowed):
    token = token_for("alpha.localhost", "owner@alpha.test")
    response = Client(HTTP_HOST="alpha.localhost").get(
        "/api/v1/users/me/", HTTP_ORIGIN=allowed, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200
    assert response[ACAO] == allowed
    exposed = response["Access-Control-Expose-Headers"]
    assert "Retry-After" in exposed and "RateLimit-Remaining" in exposed
    assert "X-Request-ID" in exposed
    # Error answers carry them too, so the app can read why (here: no token).
    refused = Client(HTTP_HOST="alpha.localhost").get("/api/v1/users/me/", HTTP_ORIGIN=allowed)
    assert refused.status_code == 401
    assert refused[ACAO] == allowed


@pytest.mark.django_db
def test_other_origins_hosts_and_paths_get_no_cors_headers(allowed, tenant_b):
    others = [
        ("alpha.localhost", "https://evil.example.com", "/api/v1/users/me/"),
        ("alpha.localhost", allowed + ":8443", "/api/v1/users/me/"),
        ("alpha.localhost", allowed.replace("https", "http"), "/api/v1/users/me/"),
        ("beta.localhost", allowed, "/api/v1/users/me/"),  # another tenant's origin
        ("localhost", allowed, "/api/schema/"),  # the platform host
    ]
    for host, origin, path in others:
        answer = preflight(host, origin, path)
        assert answer.status_code == 200, (host, origin)  # answered, but not allowed
        assert ACAO not in answer, (host, origin)
        assert ACAO not in Client(HTTP_HOST=host).get(path, HTTP_ORIGIN=origin), (host, origin)
    # Outside the API (the admin, health) no origin gets CORS headers, allowed or not.
    for path in ("/admin/login/", "/healthz"):
        assert ACAO not in Client(HTTP_HOST="alpha.localhost").get(path, HTTP_ORIGIN=allowed)


@pytest.mark.django_db
def test_a_preflight_costs_no_sql_once_warm(allowed, django_assert_num_queries):
    assert preflight("alpha.localhost", allowed)[ACAO] == allowed  # warms the directory
    with django_assert_num_queries(0):
        assert preflight("alpha.localhost", allowed)[ACAO] == allowed
        assert ACAO not in preflight("alpha.localhost", "https://evil.example.com")


@pytest.mark.django_db
def test_removing_an_origin_takes_effect_on_the_next_request(
    allowed, tenant_a, django_capture_on_commit_callbacks
):
    assert preflight("alpha.localhost", allowed)[ACAO] == allowed
    with django_capture_on_commit_callbacks(execute=True):
        services.cors_origin_remove(slug=tenant_a.slug, origin=allowed)
    assert ACAO not in preflight("alpha.localhost", allowed)


# ---------------------------------------------------------------------------- CLI
def test_cli_adds_lists_and_removes_origins(live_db, tenant_a):
    slug = tenant_a.slug
    try:
        added = run_cli("tenants", "cors", "add", slug, "HTTPS://App.Example.com:443", "--json")
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout) == {
            "slug": slug,
            "origin": "https://app.example.com",
            "changed": True,
            "origins": ["https://app.example.com"],
        }
        again = run_cli("tenants", "cors", "add", slug, "https://app.example.com")
        assert again.returncode == 0 and "already allowed" in again.stdout
        listed = run_cli("tenants", "cors", "list", slug)
        assert listed.stdout.split() == ["https://app.example.com"]
        listed_json = json.loads(run_cli("tenants", "cors", "list", slug, "--json").stdout)
        assert listed_json == {"slug": slug, "origins": ["https://app.example.com"]}

        for args, code in [
            (("add", slug, "https://app.example.com/path"), 1),
            (("add", slug, "https://*.example.com"), 1),
            (("remove", slug, "https://never.example.com"), 1),
            (("add", "no-such-tenant", "https://app.example.com"), 1),
            (("add", slug), 2),
            (("frobnicate", slug), 2),
        ]:
            refused = run_cli("tenants", "cors", *args)
            assert refused.returncode == code, (args, refused.stdout, refused.stderr)
            assert len(refused.stderr.strip().splitlines()) == 1, (args, refused.stderr)
            assert "Traceback" not in refused.stderr

        removed = run_cli("tenants", "cors", "remove", slug, "https://app.example.com", "--json")
        assert removed.returncode == 0, removed.stderr
        assert json.loads(removed.stdout)["origins"] == []
    finally:
        with public_scope():
            Tenant.objects.filter(slug=slug).update(cors_origins=[])
        invalidate_directory()


# -------------------------------------------------------------------- tenant admin
@pytest.mark.django_db
def test_the_tenant_admin_sets_its_origins(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    client = Client(HTTP_HOST="alpha.localhost")
    signed_in = client.post(
        "/admin/login/", {"username": "owner@alpha.test", "password": OWNER_PASSWORD}
    )
    assert signed_in.status_code == 302
    index = client.get("/admin/")
    assert b"/admin/settings/cors-origins/" in index.content
    page = client.get("/admin/settings/cors-origins/")
    assert page.status_code == 200 and b"Allowed origins" in page.content

    refused = client.post(
        "/admin/settings/cors-origins/", {"origins": "https://ok.example.com\nhttps://*.bad.com"}
    )
    assert refused.status_code == 200
    assert b"wildcards are not supported" in refused.content
    assert services.cors_origin_list(slug="alpha") == []

    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(
            "/admin/settings/cors-origins/",
            {"origins": "HTTPS://Ok.Example.com\n\nhttp://localhost:3000\nhttps://ok.example.com"},
            follow=True,
        )
    assert b"Saved 2 allowed origin(s)" in saved.content
    assert services.cors_origin_list(slug="alpha") == [
        "https://ok.example.com",
        "http://localhost:3000",
    ]
    assert services.cors_origin_list(slug="beta") == []
    assert preflight("alpha.localhost", "http://localhost:3000")[ACAO] == "http://localhost:3000"
    invalidate_directory()


@pytest.mark.django_db
def test_members_cannot_reach_the_origins_page(tenant_a):
    from atrium.platform.accounts.models import User
    from atrium.tenants.context import tenant_scope

    with tenant_scope(tenant_a):
        User.objects.create_user(email="member-cors@alpha.test", password=OWNER_PASSWORD)
    client = Client(HTTP_HOST="alpha.localhost")
    client.post("/admin/login/", {"username": "member-cors@alpha.test", "password": OWNER_PASSWORD})
    response = client.get("/admin/settings/cors-origins/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_directory_entries_of_other_versions_are_read(tenant_a):
    """An entry without origins (written before them) or with fields this version does
    not know (written by a newer one) is still a record."""
    from dataclasses import asdict

    from atrium.tenants.directory import HOSTS_KEY, directory, record_from_json, redis_client

    record = directory.lookup("alpha.localhost")
    older = {k: v for k, v in asdict(record).items() if k != "cors_origins"}
    for entry, origins in ((older, ()), ({**older, "cors_origins": [APP], "future": 1}, (APP,))):
        redis_client().hset(HOSTS_KEY, "alpha.localhost", json.dumps(entry))
        read = record_from_json(redis_client().hget(HOSTS_KEY, "alpha.localhost"))
        assert (read.slug, read.cors_origins) == ("alpha", origins)
