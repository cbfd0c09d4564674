"""Erasure of a tenant (issue 14): every place a tenant leaves traces, each shown full before
``tenants delete --purge`` and empty after it, and the purge's record in the platform audit.

The places: its schema; its Tenant, Domain and usage rows; its Redis keys of every purpose
(cache, rate limits, usage counters, anything scoped), its routing directory entries; its
channel groups; its files in storage; work scheduled for it (beat fans periodic work out to
active tenants only: the schedule itself names no tenant) and its Celery messages waiting in
the broker, queued or delivered but unacknowledged.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from celery import current_app
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import User
from atrium.platform.schedule import tenant_periodic_tasks
from atrium.platform.tasks import active_tenants
from atrium.tenants import provisioning
from atrium.tenants.celery import SCHEMA_HEADER, tenant_messages_count
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.directory import HOSTS_KEY
from atrium.tenants.keyspace import group_name
from atrium.tenants.models import Domain, PlatformAuditEvent, Tenant, TenantUsage
from atrium.tenants.usage import usage_flush

from .fixtures import OWNER_PASSWORD, FileStore, run_cli, schema_exists

SLUG = "traces"
HOST = f"{SLUG}.localhost"
CUSTOM = "shop.traces.example"


@pytest.fixture
def lost_channel() -> Iterator[str]:
    """A channel no consumer reads (a socket that is gone); its queue is deleted after."""
    channel = f"test.lost.{uuid.uuid4().hex}"
    yield channel
    layer = get_channel_layer()

    async def forget() -> None:
        key = layer.prefix + channel
        await layer.connection(layer.consistent_hash(channel)).delete(key, f"{key}$inflight")

    async_to_sync(forget)()


@pytest.fixture
def broker() -> Iterator:
    """The test broker's Redis, with no worker reading it: sent messages stay queued.
    Messages of this test's tenant are removed afterwards whatever happened."""
    import redis

    client = redis.Redis.from_url(current_app.conf.broker_url)
    yield client
    client.close()


def channel_groups(schema: str) -> list[bytes]:
    layer = get_channel_layer()

    async def scan() -> list[bytes]:
        pattern = f"{layer.prefix}:group:t.{schema}.*"
        return [key async for key in layer.connection(0).scan_iter(match=pattern)]

    return async_to_sync(scan)()


def footprint(tenant_id, schema: str, files: FileStore) -> dict:
    """Every place a tenant leaves traces, and what each holds of this tenant."""
    redis = get_redis_connection("default")
    with public_scope():
        rows = {
            "tenant_rows": Tenant.objects.filter(pk=tenant_id).count(),
            "domain_rows": Domain.objects.filter(domain__in=[HOST, CUSTOM]).count(),
            "usage_rows": TenantUsage.objects.filter(tenant_id=tenant_id).count(),
        }
    beat = current_app.conf.beat_schedule or {}
    return {
        **rows,
        "schema": schema_exists(schema),
        # Every key of the tenant's space (cache, ratelimit, usage, locks, …), and any other
        # key that names the schema at all.
        "redis_keys": sorted(
            key
            for key in redis.scan_iter(count=1000)
            if key.startswith(f"t:{schema}:".encode()) or f":{schema}:".encode() in key
        ),
        "directory_entries": sorted(
            host
            for host, raw in redis.hscan_iter(HOSTS_KEY)
            if json.loads(raw)["schema_name"] == schema
        ),
        "channel_groups": channel_groups(schema),
        "files": [name for name in files.files() if name.startswith(f"{schema}/")],
        "beat_entries": [
            name for name, entry in beat.items() if schema in json.dumps(entry, default=str)
        ],
        "fanned_out_to": [t.schema_name for t in active_tenants() if t.schema_name == schema],
        "queued_messages": tenant_messages_count(schema),
    }


def test_a_purge_leaves_no_trace(live_db, file_storage, lost_channel, broker):
    """On each file storage: the local filesystem, and a bucket of an S3-compatible server."""
    live_db.append(SLUG)
    tenant = provisioning.tenant_create(
        slug=SLUG,
        name="Traces",
        owner_email=f"owner@{SLUG}.test",
        owner_password=OWNER_PASSWORD,
        domain=CUSTOM,
    ).tenant
    schema = tenant.schema_name
    client = APIClient(HTTP_HOST=HOST)
    login = client.post(
        "/api/v1/auth/token/", {"email": f"owner@{SLUG}.test", "password": OWNER_PASSWORD}
    )
    assert login.status_code == 200, login.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    with tenant_scope(tenant):
        category = catalog.category_create(name="Lamps")
        owner = User.objects.get()
        cache.set("greeting", "hello")  # the cache
        # A socket whose leave was lost (Redis away at disconnect) stays in its groups.
        for group in (group_name("tenant"), group_name("user", owner.pk)):
            async_to_sync(get_channel_layer().group_add)(group, lost_channel)
        default_storage.save(f"{schema}/uploads/manual.bin", ContentFile(b"x" * 1024))
        # Work waiting in the broker: queued now, and a retry due later.
        current_app.send_task("catalog.export_products", args=[str(uuid.uuid4())])
        current_app.send_task("catalog.export_products", args=[str(uuid.uuid4())], countdown=3600)
    # Requests: rate-limit buckets, usage counters, the routing directory's entry.
    created = client.post(
        "/api/v1/catalog/products/",
        {"name": "Lamp", "sku": "L-1", "price": "9.00", "category": str(category.pk)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    exported = client.post("/api/v1/catalog/exports/")  # a file (Celery is eager in tests)
    assert exported.status_code == 202, exported.json()
    usage_flush(slugs=[SLUG])
    # A message handed to a worker that has not acknowledged it (kombu's unacked hash).
    with tenant_scope(tenant):
        current_app.send_task("catalog.export_products", args=["unacked"], queue="traces-unacked")
    raw = broker.rpop("traces-unacked")
    broker.hset("unacked", "tag-traces", json.dumps([json.loads(raw), "", "traces-unacked"]))
    broker.zadd("unacked_index", {"tag-traces": 1.0})

    before = footprint(tenant.pk, schema, file_storage)
    # Every place holds something of the tenant, but the schedule: no per-tenant entry.
    assert before["tenant_rows"] == 1 and before["domain_rows"] == 2, before
    assert before["usage_rows"] == 1 and before["schema"], before
    prefixes = {key.split(b":")[2] for key in before["redis_keys"]}
    assert {b"cache", b"ratelimit", b"usage"} <= prefixes, prefixes
    assert before["directory_entries"] == [HOST.encode()], before
    assert len(before["channel_groups"]) == 2, before
    assert len(before["files"]) == 2, before
    assert before["fanned_out_to"] == [schema] and before["beat_entries"] == []
    assert before["queued_messages"] == 3, before
    assert tenant_periodic_tasks(), "beat fans out some tenant work"

    purge = run_cli("tenants", "delete", SLUG, "--purge", "--yes", "--json", env=file_storage.env)
    assert purge.returncode == 0, purge.stderr
    record = json.loads(purge.stdout)

    assert footprint(tenant.pk, schema, file_storage) == {
        "tenant_rows": 0,
        "domain_rows": 0,
        "usage_rows": 0,
        "schema": False,
        "redis_keys": [],
        "directory_entries": [],
        "channel_groups": [],
        "files": [],
        "beat_entries": [],
        "fanned_out_to": [],
        "queued_messages": 0,
    }
    assert broker.hget("unacked", "tag-traces") is None
    assert broker.zscore("unacked_index", "tag-traces") is None
    # What was removed, with the counts.
    assert record["purged"] is True
    assert record["domains_deleted"] == sorted([HOST, CUSTOM])
    assert record["usage_rows_deleted"] == 1
    assert record["files_deleted"] == 2
    assert record["channel_groups_deleted"] == 2
    assert record["queued_messages_deleted"] == 3
    assert record["redis_keys_deleted"] >= 3
    assert record["tables_dropped"] > 10 and record["rows_deleted"] > 3
    # The deletion record in the platform audit: what, the counts and when.
    with public_scope():
        entry = PlatformAuditEvent.objects.get(
            action="tenant.purged", details__tenant_id=str(tenant.pk)
        )
    assert entry.details == {k: v for k, v in record.items() if k != "purged"}
    assert (entry.tenant_slug, entry.source) == (SLUG, "cli") and entry.details["purged_at"]


def test_the_purge_keeps_other_tenants_messages(live_db, tenant_a, broker):
    live_db.append(SLUG)
    tenant = provisioning.tenant_create(
        slug=SLUG, name="Traces", owner_email=f"owner@{SLUG}.test", owner_password=OWNER_PASSWORD
    ).tenant
    marker = str(uuid.uuid4())
    try:
        for scope in (tenant, tenant_a):
            with tenant_scope(scope):
                current_app.send_task("catalog.export_products", args=[marker])
        assert tenant_messages_count(tenant.schema_name) == 1
        before_a = tenant_messages_count(tenant_a.schema_name)
        run = run_cli("tenants", "delete", SLUG, "--purge", "--yes")
        assert run.returncode == 0, run.stderr
        assert tenant_messages_count(tenant.schema_name) == 0
        assert tenant_messages_count(tenant_a.schema_name) == before_a
    finally:
        # Leave the broker as it was: drop this test's message of tenant_a.
        for key in broker.scan_iter(_type="list"):
            for raw in broker.lrange(key, 0, -1):
                message = json.loads(raw)
                if message.get("headers", {}).get(
                    SCHEMA_HEADER
                ) == tenant_a.schema_name and marker.encode() in base64.b64decode(message["body"]):
                    broker.lrem(key, 0, raw)
