"""Shared helpers of the cross-tenant attack suite: two tenants, their people and objects,
clients for each door (test client, the real ASGI app, WSGI, sockets), snapshots of a
tenant's rows and of the Redis key space, and the connection modes of the database.

Every test here attacks tenant beta from tenant alpha (or the reverse) and then checks two
things: the attack was answered with a refusal, and nothing of the other tenant changed or
showed. Helpers that read "what a tenant has" read it from the database or Redis directly,
never through the API under attack.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import io
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.apps import apps
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Category, Product, Review
from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.tokens import TokenPair, token_pair_issue
from atrium.platform.jobs import services as jobs
from atrium.platform.jobs import storage
from atrium.platform.jobs.models import Job
from atrium.platform.tasks import tenant_task
from atrium.tenants.context import tenant_scope
from atrium.tenants.keyspace import scoped_key
from atrium.tenants.models import Tenant
from tests.fixtures import OWNER_PASSWORD
from tests.realtime.sockets import application  # the real ASGI app, channels.testing ready

ALPHA_HOST = "alpha.localhost"
BETA_HOST = "beta.localhost"
HOSTS = {"alpha": ALPHA_HOST, "beta": BETA_HOST}
# Generous limits for tests that send many legitimate requests as one user; the real
# limits are tested in tests/api/test_throttling.py.
ROOMY_RATE_LIMITS = {
    plan: {"burst": "100000/10s", "sustained": "1000000/h"} for plan in settings.ATRIUM_PLANS
}


# ---------------------------------------------------------------------------- the error shape


def assert_error(response_or_body: Any, status: int | None, code: str) -> dict:
    """The API's one error shape with exactly one error of ``code`` (and its status)."""
    if isinstance(response_or_body, dict):
        body = response_or_body
    else:
        if status is not None:
            assert response_or_body.status_code == status, (
                response_or_body.status_code,
                getattr(response_or_body, "content", b"")[:500],
            )
        body = response_or_body.json()
    kind = "server_error" if status is not None and status >= 500 else "client_error"
    assert body["type"] == kind, body
    assert [error["code"] for error in body["errors"]] == [code], body
    assert set(body["errors"][0]) == {"code", "detail", "attr"}, body
    return body


def assert_not_found(response: Any) -> None:
    """404 in the one shape, and nothing in it but the generic words."""
    body = assert_error(response, 404, "not_found")
    assert body["errors"][0] == {"code": "not_found", "detail": "Not found.", "attr": None}


# ---------------------------------------------------------------------------- people, tokens


def tenant_user(tenant: Tenant, email: str) -> User:
    with tenant_scope(tenant):
        return User.objects.get(email=email)


def tokens_for(tenant: Tenant, user: User) -> TokenPair:
    with tenant_scope(tenant):
        return token_pair_issue(user=user)


def api(host: str, token: str | None = None) -> APIClient:
    client = APIClient(HTTP_HOST=host)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def socket_tokens(live_db, tenant_a, tenant_b) -> dict[str, TokenPair]:
    """Committed token pairs of both owners (the ASGI app checks them from its threads)."""
    return {
        tenant.slug: tokens_for(tenant, tenant_user(tenant, f"owner@{tenant.slug}.test"))
        for tenant in (tenant_a, tenant_b)
    }


@pytest.fixture
def roomy_limits(settings):
    settings.ATRIUM_RATE_LIMITS = ROOMY_RATE_LIMITS


# ---------------------------------------------------------------------------- a tenant's world


@dataclass
class World:
    """Objects of one tenant: every kind of id the API takes, with a marker in the names."""

    tenant: Tenant
    owner: User
    member: User
    category: Category
    product: Product
    deleted_product: Product
    review: Review
    job: Job  # a finished export with its file in the tenant's storage
    running_job: Job
    tokens: TokenPair  # the owner's
    # Ids of the tenant apps' own objects by route ("/api/v1/<app>/{id}/": …): app_objects.
    app_ids: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return HOSTS[self.tenant.slug]

    def client(self, token: str | None = None) -> APIClient:
        return api(self.host, self.tokens.access if token is None else token)


def build_world(tenant: Tenant, marker: str) -> World:
    """Objects of ``tenant`` whose names and SKUs carry ``marker`` (unique per tenant)."""
    with tenant_scope(tenant):
        owner = User.objects.get(email=f"owner@{tenant.slug}.test")
        member = User.objects.create_with_role(
            f"member-{marker}@{tenant.slug}.test",
            role=Role.MEMBER,
            password=OWNER_PASSWORD,
            name=f"Member {marker}",
        ).user
        category = catalog.category_create(name=f"Shelf {marker}")
        product = catalog.product_create(
            owner=owner,
            name=f"Widget {marker}",
            sku=f"W-{marker}",
            price=Decimal("10.00"),
            stock=3,
            status="active",
            category=category,
        )
        deleted = catalog.product_create(
            owner=owner,
            name=f"Retired {marker}",
            sku=f"R-{marker}",
            price=Decimal("5.00"),
            category=category,
        )
        catalog.product_delete(product=deleted)
        review = catalog.review_create(
            author=member, product=product, rating=4, title=f"Review {marker}"
        )
        job = jobs.job_create(kind="catalog.export", created_by=owner)
        path = storage.save(f"exports/{job.pk}.csv", f"sku\nW-{marker}\n".encode())
        job = jobs.job_finish(job=job, result={"rows": 1}, output_path=path)
        running = jobs.job_create(kind="catalog.export", created_by=owner)
        jobs.job_start(job=running)
        jobs.job_progress(job=running, percent=42)
        pair = token_pair_issue(user=owner)
        app_ids = app_objects(owner=owner, marker=marker)
    return World(
        tenant=tenant,
        owner=owner,
        member=member,
        category=category,
        product=product,
        deleted_product=deleted,
        review=review,
        job=job,
        running_job=running,
        tokens=pair,
        app_ids=app_ids,
    )


# An app of TENANT_APPS may ship this module: ``tenant_objects(*, owner, marker)`` makes a
# real object of the tenant in scope for each of the app's routes that take an id, and
# returns their ids by route. The route matrices fill those routes with them, so a new app
# needs no edit here (the README's "new tenant app" checklist).
APP_HOOK = "tests.isolation"


def app_hooks() -> list[ModuleType]:
    hooks = []
    for config in apps.get_app_configs():
        if config.name not in settings.TENANT_APPS:
            continue
        tests = importlib.util.find_spec(f"{config.name}.tests")
        if tests is None or tests.submodule_search_locations is None:
            continue  # no tests package (or a tests module, like django.contrib.admin's)
        if importlib.util.find_spec(f"{config.name}.{APP_HOOK}") is not None:
            hooks.append(importlib.import_module(f"{config.name}.{APP_HOOK}"))
    return hooks


def app_objects(*, owner: User, marker: str) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for hook in app_hooks():
        ids.update(hook.tenant_objects(owner=owner, marker=marker))
    return ids


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def alpha(db, tenant_a, media) -> World:
    return build_world(tenant_a, "alpha")


@pytest.fixture
def beta(db, tenant_b, media) -> World:
    return build_world(tenant_b, "beta")


# ---------------------------------------------------------------------------- rows and snapshots


def tenant_models() -> list:
    """Every concrete model whose table lives in a tenant schema."""
    labels = {
        config.label for config in apps.get_app_configs() if config.name in settings.TENANT_APPS
    }
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in labels and model._meta.managed
    ]


def tenant_rows(tenant: Tenant) -> dict[str, list[dict]]:
    """All rows of every tenant table of ``tenant`` (soft-deleted ones too), in pk order."""
    with tenant_scope(tenant):
        return {
            model._meta.label: [dict(row) for row in model._base_manager.order_by("pk").values()]
            for model in tenant_models()
        }


# ---------------------------------------------------------------------------- Redis


def cache_redis():
    """The Redis database of the cache, rate limits, locks, jobs and routing."""
    return get_redis_connection("default")


def channel_redis():
    import redis

    return redis.Redis.from_url(settings.CHANNEL_REDIS_URL)


def keys_of(client) -> set[str]:
    return {key.decode() for key in client.scan_iter(match="*", count=1000)}


@tenant_task(name="isolation.count_effect", idempotent=True)
def count_effect(marker: str) -> int:
    """A tenant task whose effect is a counter in its own tenant's key space."""
    return cache_redis().incr(scoped_key("test", "effects", marker))


def effects(tenant: Tenant, marker: str) -> int:
    with tenant_scope(tenant):
        return int(cache_redis().get(scoped_key("test", "effects", marker)) or 0)


# ---------------------------------------------------------------------------- the real ASGI app


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> list[str]:
        wanted = name.lower().encode()
        return [value.decode("latin-1") for key, value in self.headers if key.lower() == wanted]


async def asgi_request(
    method: str,
    path: str,
    *,
    host: str | None = ALPHA_HOST,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    token: str | None = None,
    server: tuple[str, int] = ("127.0.0.1", 8000),
    raw: list[tuple[bytes, bytes]] | None = None,
    timeout: float = 20,
) -> HttpResponse:
    """One HTTP request through ``config.asgi.application``, the way uvicorn hands it over.

    ``raw`` replaces the ``Host`` header with any list of header lines (duplicates too)."""
    raw_path, _, query = path.partition("?")
    if raw is not None:
        raw_headers = list(raw)
    else:
        raw_headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    raw_headers += [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
    if token:
        raw_headers.append((b"authorization", f"Bearer {token}".encode()))
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": server,
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout)
    assert start["type"] == "http.response.start", start
    chunks = []
    while True:
        message = await communicator.receive_output(timeout)
        assert message["type"] == "http.response.body", message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await communicator.wait(timeout)
    return HttpResponse(status=start["status"], headers=start["headers"], body=b"".join(chunks))


def run_async(coroutine_function, *args, **kwargs):
    """Run an async helper from a sync test, in an event loop of its own."""
    from asgiref.sync import async_to_sync

    return async_to_sync(coroutine_function)(*args, **kwargs)


async def gather(*coroutines):
    return await asyncio.gather(*coroutines)


# ---------------------------------------------------------------------------- WSGI, one thread


def wsgi_request(method: str, path: str, *, host: str, token: str | None = None):
    """One request through Django's WSGI handler on this thread, as a sync worker serves
    it: request_started / request_finished fire, so connections are closed or kept exactly
    as ``CONN_MAX_AGE`` (or the pool) says. The test client does not do this: it keeps the
    connection open whatever the settings say."""
    raw_path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method.upper(),
        "PATH_INFO": raw_path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    started: list = []

    def start_response(status, headers, exc_info=None):
        started.append((int(status.split()[0]), headers))

    result = _wsgi_handler()(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # fires request_finished, as a WSGI server does
    status, headers = started[0]
    return HttpResponse(
        status=status, headers=[(k.encode(), v.encode()) for k, v in headers], body=body
    )


_handler: WSGIHandler | None = None


def _wsgi_handler() -> WSGIHandler:
    global _handler
    if _handler is None:
        _handler = WSGIHandler()
    return _handler


# ---------------------------------------------------------------------------- connection modes

# Persistent connections and psycopg's pool are the two ways a connection outlives a request.
CONNECTION_MODES = ("persistent", "pool")


@contextmanager
def connection_mode(mode: str, *, pool_size: int = 2) -> Iterator[dict]:
    """Run the block with connections that outlive a request: ``persistent``
    (``CONN_MAX_AGE``) or ``pool`` (psycopg's pool, of at most ``pool_size`` connections so
    that requests of both tenants must share them), whatever the settings configure.

    Every thread's connection reads the one settings dict of the alias, so a change here
    reaches the threads the ASGI handler starts too.
    """
    assert mode in CONNECTION_MODES, mode
    db = connections.settings["default"]
    assert connection.settings_dict is db, "threads would not see the mode"
    saved_age, saved_options = db["CONN_MAX_AGE"], dict(db["OPTIONS"])
    _close_everything()
    if mode == "persistent":
        db["OPTIONS"].pop("pool", None)
        db["CONN_MAX_AGE"] = 600
    else:
        db["CONN_MAX_AGE"] = 0
        db["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 30}
    try:
        yield db
    finally:
        _close_everything()
        db["CONN_MAX_AGE"] = saved_age
        db["OPTIONS"].clear()
        db["OPTIONS"].update(saved_options)


def _close_everything() -> None:
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
