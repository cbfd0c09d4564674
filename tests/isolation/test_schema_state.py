"""Schema state after errors: a failed request never leaves its tenant on the connection.

A connection that outlives a request (persistent, or back in psycopg's pool) still has the
last request's ``search_path`` in its session. These tests make requests fail inside a
tenant (a Python exception, a database error, a savepoint rolled back inside a
transaction), then send the other tenant's request over the very same connection (same
``pg_backend_pid()``) and read PostgreSQL's own ``SHOW search_path`` and the rows the
request sees. The same under ASGI, with many concurrent requests of both tenants.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Category, Product
from atrium.platform.accounts.models import User
from atrium.tenants.context import tenant_scope

from .conftest import (
    CONNECTION_MODES,
    HOSTS,
    ROOMY_RATE_LIMITS,
    asgi_request,
    assert_error,
    connection_mode,
    gather,
    run_async,
    tokens_for,
    wsgi_request,
)

SERVER_ERROR = {
    "type": "server_error",
    "errors": [{"code": "error", "detail": "A server error occurred.", "attr": None}],
}


@pytest.fixture
def probes(settings):
    settings.ROOT_URLCONF = "tests.isolation.probe_urls"
    settings.ATRIUM_RATE_LIMITS = ROOMY_RATE_LIMITS


def first_schema(search_path: str) -> str:
    return search_path.split(",")[0].strip().strip('"')


def assert_in_tenant(body: dict, schema: str) -> None:
    """The request ran in ``schema`` by every measure, and read only its rows."""
    assert first_schema(body["search_path"]) == schema, body
    assert body["current_schema"] == schema, body
    assert body["emails"], body
    assert all(email.endswith(f"@{schema}.test") for email in body["emails"]), body
    if "tenant" in body:
        assert body["tenant"] == schema, body
    if "scope" in body:
        assert body["scope"] == schema, body


def raw_session_search_path() -> str:
    """The session's search_path, asked on the raw connection so Django sets nothing first."""
    return connection.connection.execute("SHOW search_path").fetchone()[0]


# Each failure of one tenant is followed by a request of the other on the same connection.
SEQUENCE = [
    ("alpha", "/probe/"),
    ("alpha", "/boom/?kind=python"),
    ("beta", "/probe/"),
    ("beta", "/boom/?kind=db"),
    ("alpha", "/probe/"),
    ("alpha", "/boom/?kind=savepoint"),
    ("beta", "/probe/"),
    ("beta", "/boom/?kind=savepoint"),
    ("alpha", "/probe/"),
    ("beta", "/boom/?kind=python"),
    ("alpha", "/boom/?kind=db"),
    ("beta", "/probe/"),
]


@pytest.mark.parametrize("mode", CONNECTION_MODES)
def test_after_a_failed_request_the_reused_connection_serves_the_next_tenant_right(
    live_db, tenant_a, tenant_b, probes, mode
):
    pids = []
    with connection_mode(mode, pool_size=1):
        for schema, path in SEQUENCE:
            if mode == "persistent" and connection.connection is not None:
                # The kept session still has the previous request's schema: the request
                # below is only right if Django sets its own again.
                assert first_schema(raw_session_search_path()) in HOSTS
            response = wsgi_request("GET", path, host=HOSTS[schema])
            if "kind=python" in path or "kind=db" in path:
                assert (response.status, response.json()) == (500, SERVER_ERROR), path
                continue
            assert response.status == 200, (path, response.body[:300])
            body = response.json()
            assert_in_tenant(body, schema)
            if "before" in body:
                assert_in_tenant(body["before"] | {"emails": body["emails"]}, schema)
            pids.append(body["pid"])
            if mode == "persistent":
                assert connection.connection is not None, "the connection was not kept"
    assert len(pids) == 8
    assert len(set(pids)) == 1, f"the connection was not reused: {pids}"


def test_the_failed_transaction_left_nothing_behind(live_db, tenant_a, tenant_b, probes):
    """``boom?kind=db`` renamed the owner inside the transaction it then broke."""
    for schema in HOSTS:
        assert wsgi_request("GET", "/boom/?kind=db", host=HOSTS[schema]).status == 500
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            assert not User.objects.filter(name="never committed").exists()


# ---------------------------------------------------------------------------- under ASGI


@pytest.fixture
def one_product_each(live_db, tenant_a, tenant_b):
    """A committed product per tenant (the ASGI app reads from its own threads)."""
    made = []
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            owner = User.objects.get(email=f"owner@{tenant.slug}.test")
            category = catalog.category_create(name=f"Concurrency {tenant.slug}")
            product = catalog.product_create(
                owner=owner,
                name=f"Gizmo of {tenant.slug}",
                sku=f"GZ-{tenant.slug}",
                price=Decimal("1.00"),
                status="active",
                category=category,
            )
            made.append((tenant, product.pk, category.pk))
    yield
    for tenant, product_id, category_id in made:
        with tenant_scope(tenant):
            Product.all_objects.filter(pk=product_id).delete()
            Category.all_objects.filter(pk=category_id).delete()


def path_of(kind: str) -> str:
    if kind.startswith("meet:"):
        return f"/probe/?sleep=0.05&meet={kind.removeprefix('meet:')}"
    return PATHS[kind]


def check(schema: str, kind: str, response) -> dict | None:
    """Assert the response belongs to ``schema``; the probe's report when it is one."""
    if kind in ("python", "db"):
        assert (response.status, response.json()) == (500, SERVER_ERROR)
        return None
    assert response.status == 200, (schema, kind, response.status, response.body[:300])
    body = response.json()
    if kind in ("probe", "savepoint", "meet"):
        assert_in_tenant(body, schema)
        return body
    if kind == "me":
        assert body["email"] == f"owner@{schema}.test"
    elif kind == "users":
        emails = [user["email"] for user in body["results"]]
        assert emails and all(email.endswith(f"@{schema}.test") for email in emails), emails
    elif kind == "products":
        assert [product["name"] for product in body["results"]] == [f"Gizmo of {schema}"]
    elif kind == "home":
        assert body["tenant"] == schema
    return None


PATHS = {
    "probe": "/probe/?sleep=0.01",
    "python": "/boom/?kind=python",
    "db": "/boom/?kind=db",
    "savepoint": "/boom/?kind=savepoint",
    "me": "/api/v1/users/me/",
    "users": "/api/v1/users/",
    "products": "/api/v1/catalog/products/",
    "home": "/",
}


@pytest.mark.parametrize("mode", ["default", "pool"])
def test_concurrent_asgi_requests_of_both_tenants_each_get_their_own(
    tenant_a, tenant_b, one_product_each, probes, mode, caplog
):
    tokens = {
        "alpha": tokens_for(tenant_a, _owner(tenant_a)),
        "beta": tokens_for(tenant_b, _owner(tenant_b)),
    }
    plan = [(schema, kind) for _ in range(4) for schema in HOSTS for kind in PATHS]
    # Pairs of probes, one per tenant, that wait for each other: certain overlap.
    run = uuid.uuid4().hex
    plan += [(schema, f"meet:{run}-{n}") for n in range(4) for schema in HOSTS]
    random.Random(6).shuffle(plan)

    async def send_all():
        # Warm the host directory first: then routing needs no SQL, and a probe waiting
        # for its pair holds no pooled connection while it waits.
        for host in HOSTS.values():
            assert (await asgi_request("GET", "/", host=host)).status == 200
        return await gather(
            *(
                asgi_request("GET", path_of(kind), host=HOSTS[schema], token=tokens[schema].access)
                for schema, kind in plan
            )
        )

    if mode == "pool":
        with connection_mode("pool", pool_size=2):
            responses = run_async(send_all)
    else:
        responses = run_async(send_all)

    pids: dict[str, set[int]] = {"alpha": set(), "beta": set()}
    spans: dict[str, list[tuple[float, float]]] = {"alpha": [], "beta": []}
    for (schema, kind), response in zip(plan, responses, strict=True):
        report = check(schema, kind.split(":")[0], response)
        if report is not None:
            pids[schema].add(report["pid"])
            if report.get("met"):
                spans[schema].append((report["started"], report["finished"]))
    # The requests really ran at the same time: a probe of alpha overlapped one of beta.
    assert any(
        a_start < b_end and b_start < a_end
        for a_start, a_end in spans["alpha"]
        for b_start, b_end in spans["beta"]
    ), spans
    if mode == "pool":
        assert len(pids["alpha"] | pids["beta"]) <= 2
        shared = pids["alpha"] & pids["beta"]
        assert shared, f"no connection served both tenants, the test proved nothing: {pids}"


def _owner(tenant) -> User:
    with tenant_scope(tenant):
        return User.objects.get(email=f"owner@{tenant.slug}.test")


def test_error_responses_carry_no_tenant_data(live_db, tenant_a, probes):
    response = run_async(asgi_request, "GET", "/boom/?kind=python", host=HOSTS["alpha"])
    assert_error(response.json(), 500, "error")
    assert b"alpha" not in response.body and b"boom" not in response.body
