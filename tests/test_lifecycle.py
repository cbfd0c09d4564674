"""Tenant life cycle: a purge removes every byte of a tenant, a tenant's identity is never
reused by a later tenant with its slug, and an archived tenant says so (issue 11)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import User
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.tenants import provisioning, services
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.directory import directory
from atrium.tenants.keyspace import group_name, scoped_key
from atrium.tenants.models import Domain, RetiredSchemaName, Tenant

from .fixtures import OWNER_PASSWORD, FileStore, run_cli, schema_exists

SLUG = "ghosty"
HOST = f"{SLUG}.localhost"


def create_tenant() -> tuple[Tenant, APIClient]:
    """``tenants create ghosty`` and an API client of its owner (with a real token)."""
    tenant = provisioning.tenant_create(
        slug=SLUG, name="Ghosty", owner_email=f"owner@{SLUG}.test", owner_password=OWNER_PASSWORD
    ).tenant
    with tenant_scope(tenant):
        token = token_pair_issue(user=User.objects.get()).access
    client = APIClient(HTTP_HOST=HOST)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return tenant, client


@pytest.fixture
def lost_channel() -> Iterator[str]:
    """A channel that no consumer receives on (a socket that is gone); its queue is deleted
    afterwards. A plain channel: received directly, not through the process's reader task."""
    channel = f"test.lost.{uuid.uuid4().hex}"
    yield channel
    layer = get_channel_layer()

    async def forget() -> None:
        key = layer.prefix + channel
        await layer.connection(layer.consistent_hash(channel)).delete(key, f"{key}$inflight")

    async_to_sync(forget)()


def channel_groups(schema: str) -> list[bytes]:
    """The channel layer's group keys of a tenant's groups (``t.<schema>.…``)."""
    layer = get_channel_layer()

    async def scan() -> list[bytes]:
        pattern = f"{layer.prefix}:group:t.{schema}.*"
        return [key async for key in layer.connection(0).scan_iter(match=pattern)]

    return async_to_sync(scan)()


def tenant_footprint(schema: str, slug: str, files: FileStore) -> dict:
    """Everything of a tenant that can outlive it: rows, schema, keys, groups, files."""
    with public_scope():
        rows = Tenant.objects.filter(slug=slug).count()
        domains = Domain.objects.filter(domain=f"{slug}.localhost").count()
    return {
        "tenant_rows": rows,
        "domain_rows": domains,
        "schema": schema_exists(schema),
        "redis_keys": sorted(get_redis_connection("default").scan_iter(match=f"t:{schema}:*")),
        "channel_groups": channel_groups(schema),
        "files": [name for name in files.files() if name.startswith(f"{schema}/")],
    }


def export(client: APIClient) -> dict:
    """An export job run to its end (Celery is eager in tests); its job resource."""
    accepted = client.post("/api/v1/catalog/exports/")
    assert accepted.status_code == 202, accepted.json()
    job = client.get(f"/api/v1/jobs/{accepted.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    return job


def test_purge_leaves_nothing_and_the_next_tenant_with_the_slug_inherits_nothing(
    live_db, file_storage, lost_channel
):
    """On each file storage: the local filesystem, and a bucket of an S3-compatible server."""
    live_db.append(SLUG)
    old, client = create_tenant()
    with tenant_scope(old):
        category = catalog.category_create(name="Lamps")
        owner = User.objects.get()
        # A socket whose leave was lost (Redis away at disconnect) stays in its groups.
        stale_groups = [group_name("tenant"), group_name("user", owner.pk)]
        for group in stale_groups:
            async_to_sync(get_channel_layer().group_add)(group, lost_channel)
        get_redis_connection("default").set(scoped_key("test", "leftover"), "1")
    created = client.post(
        "/api/v1/catalog/products/",
        {"name": "Lamp", "sku": "L-1", "price": "9.00", "category": str(category.pk)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    job = export(client)
    assert client.get(job["download_url"]).status_code == 200
    before = tenant_footprint(old.schema_name, SLUG, file_storage)
    # The footprint is real: every kind of leftover is there before the purge.
    assert before["schema"] and before["redis_keys"] and before["files"], before
    assert len(before["channel_groups"]) == 2, before
    assert before["files"] == [f"{old.schema_name}/exports/{job['id']}.csv"]

    # The CLI is another process: it reaches the same files through the same variables.
    purge = run_cli("tenants", "delete", SLUG, "--purge", "--yes", env=file_storage.env)
    assert purge.returncode == 0, purge.stderr

    assert tenant_footprint(old.schema_name, SLUG, file_storage) == {
        "tenant_rows": 0,
        "domain_rows": 0,
        "schema": False,
        "redis_keys": [],
        "channel_groups": [],
        "files": [],
    }
    assert file_storage.files() == []

    new, client = create_tenant()
    # A new identity: schema, key space, channel groups, storage folder, Celery messages.
    assert new.schema_name != old.schema_name
    # The slug's name is retired (by this purge, or by the run of this test on the other
    # storage before it): the new schema takes the slug with a suffix.
    assert re.fullmatch(rf"{SLUG}_[0-9a-f]{{8}}", new.schema_name), new.schema_name
    with public_scope():
        assert RetiredSchemaName.objects.filter(name=old.schema_name).exists()
    with tenant_scope(new):
        assert group_name("tenant") not in stale_groups
        assert not scoped_key("test").startswith(f"t:{old.schema_name}:")
    assert directory.schema_lookup(old.schema_name) is None  # old messages are refused
    assert client.get(job["download_url"]).status_code == 404
    new_job = export(client)
    assert file_storage.files() == [f"{new.schema_name}/exports/{new_job['id']}.csv"]


def test_a_membership_that_outlived_the_purge_hears_nothing_of_the_next_tenant(
    live_db, lost_channel
):
    """Even a socket the purge could not reach stays deaf: its group names are the old ones."""
    live_db.append(SLUG)
    old, _ = create_tenant()
    with tenant_scope(old):
        old_group = group_name("tenant")
    services.tenant_purge(slug=SLUG)
    new, client = create_tenant()
    with tenant_scope(new):
        category = catalog.category_create(name="Lamps")

    def create_product() -> None:
        response = client.post(
            "/api/v1/catalog/products/",
            {"name": "Lamp", "sku": "L-2", "price": "9.00", "category": str(category.pk)},
            format="json",
        )
        assert response.status_code == 201, response.json()

    async def first_message_of_a_survivor() -> dict:
        layer = get_channel_layer()
        # A plain channel: received here directly, not through the process's reader task.
        await layer.group_add(old_group, lost_channel)  # joined the old group after the purge
        try:
            await sync_to_async(create_product)()
            # Messages to one channel arrive in order: if the event reached the old group,
            # it comes before this marker.
            await layer.send(lost_channel, {"type": "test.marker"})
            async with asyncio.timeout(10):
                return await layer.receive(lost_channel)
        finally:
            await layer.group_discard(old_group, lost_channel)

    assert async_to_sync(first_message_of_a_survivor)() == {"type": "test.marker"}


def test_archived_tenant_answers_its_own_code(live_db):
    live_db.append(SLUG)
    create_tenant()
    client = Client(HTTP_HOST=HOST)
    try:
        services.tenant_suspend(slug=SLUG)
        suspended = client.get("/api/v1/users/me/")
        assert (suspended.status_code, suspended.json()["errors"][0]["code"]) == (
            403,
            "tenant_suspended",
        )
        services.tenant_archive(slug=SLUG)
        archived = client.get("/api/v1/users/me/")
        assert archived.status_code == 403
        error = archived.json()["errors"][0]
        assert error["code"] == "tenant_archived"
        assert error["detail"] == "This tenant is archived: it no longer serves requests."
    finally:
        services.tenant_activate(slug=SLUG)
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_purge_refuses_to_run_inside_a_transaction():
    """Its Redis, file and socket work cannot be rolled back with the schema drop."""
    with pytest.raises(RuntimeError, match=r"outside transaction\.atomic"):
        services.tenant_purge(slug="no-such-tenant")
