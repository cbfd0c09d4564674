"""Host routing: tenant hosts, the public host, unknown and malformed hosts, caching."""

import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from atrium.tenants import services
from atrium.tenants.context import public_scope
from atrium.tenants.directory import HostDirectory, directory
from atrium.tenants.models import Domain, TenantStatus
from atrium.tenants.routing import is_ip_literal, normalize_host


def get(host: str, path: str = "/"):
    return Client().get(path, HTTP_HOST=host)


@pytest.mark.django_db
def test_tenant_host_is_served_in_its_tenant(tenant_a, tenant_b):
    body = get("alpha.localhost:8000").json()
    assert body["tenant"] == "alpha"
    assert get("beta.localhost").json()["tenant"] == "beta"


@pytest.mark.django_db
def test_unknown_host_gets_404_json(tenant_a):
    response = get("nope.localhost:8000")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "tenant_not_found"


@pytest.mark.parametrize(
    "host", ["ALPHA.LOCALHOST", "Alpha.Localhost:8000", "alpha.localhost.", "alpha.localhost.:80"]
)
@pytest.mark.django_db
def test_host_variants_of_a_tenant_reach_it(tenant_a, host):
    assert get(host).json()["tenant"] == "alpha"


@pytest.mark.parametrize(
    "host",
    [
        "bad host",
        "alpha..localhost",
        "-alpha.localhost",
        "[::1]:8000",
        "a" * 300,
        "al_pha.localhost",
    ],
)
@pytest.mark.django_db
def test_malformed_host_is_refused_cleanly(host):
    response = get(host)
    assert response.status_code in (400, 404)
    assert response.json()["errors"][0]["code"] in ("invalid_host", "tenant_not_found")


@pytest.mark.parametrize(
    "host", ["beta.localhost..", "beta.localhost..:8000", "beta..localhost", ".beta.localhost"]
)
@pytest.mark.django_db
def test_a_host_with_an_empty_label_reaches_no_tenant(tenant_b, host):
    response = get(host)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid_host"


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("fe80::1%eth0", True),
        ("2130706433", True),
        ("0x7f000001", True),
        ("127.1", True),
        ("0177.0.0.01", True),
        ("shop.example.1", True),
        ("shop.example.com", False),
        ("1password.com", False),
        ("123.example.com", False),
        ("0x7f.example", False),
        ("alpha.localhost", False),
    ],
)
def test_is_ip_literal(host, ip):
    assert is_ip_literal(host) is ip


def test_normalize_host():
    assert normalize_host("Acme.Example.COM:8443") == "acme.example.com"
    assert normalize_host("acme.localhost.") == "acme.localhost"
    assert normalize_host("acme.localhost..") is None  # one root dot, not any number
    assert normalize_host("acme\n.localhost") is None  # '$' matched before a newline
    assert normalize_host("acme.localhost\n.example") is None
    assert normalize_host("127.0.0.1:8000") == "127.0.0.1"
    assert normalize_host("[::1]") is None
    assert normalize_host("ex ample.com") is None


@pytest.mark.django_db
def test_public_host_serves_the_platform_urlconf(tenant_a):
    response = get("localhost:8000", "/admin/login/")
    assert response.status_code == 200
    assert b"Atrium tenant admin" not in response.content
    # The tenant home view exists only in the tenant urlconf.
    assert get("localhost", "/").status_code == 404
    assert get("alpha.localhost", "/").status_code == 200


@pytest.mark.django_db
def test_routing_does_no_sql_once_warm(tenant_a, django_assert_num_queries):
    get("alpha.localhost", "/healthz")  # warms the directory
    with django_assert_num_queries(0):
        response = get("alpha.localhost", "/healthz")
    assert response.status_code == 200
    # A process with a cold local copy still needs no SQL: the shared Redis copy answers.
    directory.clear_local()
    with django_assert_num_queries(0):
        assert get("alpha.localhost", "/").json()["tenant"] == "alpha"


def test_suspended_and_archived_tenants_get_403(live_db, tenant_b):
    assert get("beta.localhost").status_code == 200
    try:
        services.tenant_suspend(slug="beta", reason="unpaid")
        response = get("beta.localhost")
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "tenant_suspended"
        services.tenant_archive(slug="beta")
        response = get("beta.localhost")
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "tenant_archived"
    finally:
        services.tenant_activate(slug="beta")
    assert get("beta.localhost").status_code == 200


def test_change_in_one_process_invalidates_the_others(live_db, tenant_b):
    """Another process is another HostDirectory: its local copy must not outlive a change."""
    other_process = HostDirectory()
    assert other_process.lookup("beta.localhost").status == TenantStatus.ACTIVE
    try:
        services.tenant_suspend(slug="beta")
        assert other_process.lookup("beta.localhost").status == TenantStatus.SUSPENDED
    finally:
        services.tenant_activate(slug="beta")
    assert other_process.lookup("beta.localhost").status == TenantStatus.ACTIVE


def test_new_and_removed_domains_route_immediately(live_db, tenant_a):
    other_process = HostDirectory()
    assert other_process.lookup("shop.alpha.example") is None  # cached as missing
    services.domain_add(slug="alpha", domain="shop.alpha.example")
    try:
        assert other_process.lookup("shop.alpha.example").slug == "alpha"
        assert get("shop.alpha.example").json()["tenant"] == "alpha"
    finally:
        services.domain_remove(slug="alpha", domain="shop.alpha.example")
    assert other_process.lookup("shop.alpha.example") is None
    assert get("shop.alpha.example").status_code == 404


@pytest.mark.django_db
def test_a_rolled_back_change_does_not_leak_into_the_cache(tenant_a):
    with pytest.raises(RuntimeError), transaction.atomic(), public_scope():
        Domain(domain="ghost.example", tenant=tenant_a, is_primary=False).save()
        raise RuntimeError("roll back")
    assert get("ghost.example").status_code == 404


@pytest.mark.django_db
def test_schema_lookup_for_workers_does_no_sql_once_warm(tenant_a, django_assert_num_queries):
    other_process = HostDirectory()
    with CaptureQueriesContext(connection) as cold:
        assert other_process.schema_lookup(tenant_a.schema_name).slug == "alpha"
    assert any('"tenants_tenant"' in query["sql"] for query in cold.captured_queries)
    with django_assert_num_queries(0):
        assert other_process.schema_lookup(tenant_a.schema_name).slug == "alpha"
    assert other_process.schema_lookup("no_such_schema") is None


def test_schema_lookup_sees_a_change_made_in_another_process(live_db, tenant_b, settings):
    settings.ATRIUM_TASK_TENANT_RECHECK_SECONDS = 0.3
    other_process = HostDirectory()
    assert other_process.schema_lookup(tenant_b.schema_name).status == TenantStatus.ACTIVE
    try:
        services.tenant_suspend(slug="beta")
        time.sleep(0.35)  # the worker's copy is trusted for at most the recheck window
        assert other_process.schema_lookup(tenant_b.schema_name).status == TenantStatus.SUSPENDED
    finally:
        services.tenant_activate(slug="beta")
    time.sleep(0.35)
    assert other_process.schema_lookup(tenant_b.schema_name).status == TenantStatus.ACTIVE


@pytest.mark.django_db
def test_schema_lookup_trusts_its_copy_within_the_recheck_window(
    tenant_a, settings, django_assert_num_queries
):
    settings.ATRIUM_TASK_TENANT_RECHECK_SECONDS = 60
    other_process = HostDirectory()
    other_process.schema_lookup(tenant_a.schema_name)
    redis_calls = []
    other_process._shared_version = lambda: redis_calls.append(1)  # must not be asked
    with django_assert_num_queries(0):
        assert other_process.schema_lookup(tenant_a.schema_name).slug == "alpha"
    assert redis_calls == []
