"""Redis: what alpha writes (cache, rate limits, locks, idempotency keys, job progress) beta
never reads, spends or clears; and every key in Redis says whose it is.

The key audit exercises every mechanism in both tenants, then reads the raw key space:
every key is ``t:<schema>:<purpose>:…`` or a platform key ``p:<purpose>…``, its purpose is
on the lists below (a new kind of key fails until it is listed here, with its owner), no
key of one tenant names an id of the other, and platform keys hold no tenant data.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from atrium.apps.catalog import transfer
from atrium.platform.idempotency import IDEMPOTENCY_PURPOSE
from atrium.platform.jobs import services as jobs
from atrium.platform.redis import LockHeld, tenant_lock
from atrium.tenants.context import tenant_scope
from atrium.tenants.directory import HOSTS_KEY, VERSION_KEY
from atrium.tenants.keyspace import scoped_key
from tests.fixtures import OWNER_PASSWORD
from tests.realtime.sockets import (
    async_test,
    in_thread,
    open_socket,
    publish_tenant_event,
    publish_user_event,
)

from .conftest import (
    cache_redis,
    channel_redis,
    count_effect,
    effects,
    keys_of,
    tenant_user,
)

# Purposes of tenant keys (t:<schema>:<purpose>:…), each with the module that writes it.
TENANT_PURPOSES = {
    "cache": "Django's cache (KEY_FUNCTION): response cache and its versions",
    "ratelimit": "atrium.platform.api.throttling / atrium.platform.redis (GCRA buckets)",
    "lock": "atrium.platform.redis.tenant_lock",
    "lockfence": "atrium.platform.redis.tenant_lock (fencing counters)",
    IDEMPOTENCY_PURPOSE: "atrium.platform.idempotency (idempotency claims)",
    "job": "atrium.platform.jobs.services (progress)",
    "usage": "atrium.tenants.usage (metering: the day's API requests and distinct users)",
    "auth": "atrium.platform.accounts.usercache (a token's user and its generation)",
}
# Written by the test suites' own tasks only (tests/tasks/worker_tasks.py and this suite).
TEST_PURPOSES = {"test"}
# Platform keys (p:<purpose>…) and what they may hold: no tenant's data.
PLATFORM_PURPOSES = {
    "routing": "atrium.tenants.directory: the host directory and its version",
    "ratelimit": "throttles of the platform host (by client address)",
    IDEMPOTENCY_PURPOSE: "atrium.platform.idempotency: claims of platform tasks (name and task id)",
}
TENANT_KEY = re.compile(r"^t:(?P<schema>[a-z0-9_]+):(?P<purpose>[a-z]+)(:|$)")
PLATFORM_KEY = re.compile(r"^p:(?P<purpose>[a-z]+)(:|$)")


# ---------------------------------------------------------------------------- one by one


@pytest.mark.django_db
def test_cache_entries_are_per_tenant(tenant_a, tenant_b):
    key = f"isolation-{uuid.uuid4().hex}"
    with tenant_scope(tenant_a):
        cache.set(key, "alpha's secret")
        cache.set_many({f"{key}-1": 1, f"{key}-2": 2})
    with tenant_scope(tenant_b):
        assert cache.get(key) is None
        assert cache.get_many([f"{key}-1", f"{key}-2"]) == {}
        assert cache.add(key, "beta's own")  # the key is free in beta's space
        cache.delete(key)
        cache.delete_many([f"{key}-1", f"{key}-2"])
        assert cache.delete_pattern("isolation-*") >= 0  # scoped: beta's space only
    with tenant_scope(tenant_a):
        assert cache.get(key) == "alpha's secret"  # beta's deletes did not reach it
        assert cache.get_many([f"{key}-1", f"{key}-2"]) == {f"{key}-1": 1, f"{key}-2": 2}


@pytest.mark.django_db
def test_clearing_a_tenants_cache_clears_nothing_else(tenant_a, tenant_b):
    """``cache.clear()`` in a tenant empties that tenant's cache, not the Redis database
    that every tenant's cache, rate limits, locks and the routing directory share."""
    raw = cache_redis()
    key = f"isolation-{uuid.uuid4().hex}"
    with tenant_scope(tenant_b):
        cache.set(key, "beta")
        with tenant_lock("isolation-clear", timeout=30) as beta_lock:
            with tenant_scope(tenant_a):
                cache.set(key, "alpha")
                cache.clear()
                assert cache.get(key) is None
            assert cache.get(key) == "beta"
            assert beta_lock.held()
        fence = scoped_key("lockfence", "isolation-clear")
    assert raw.get(fence) is not None  # fencing tokens never restart
    assert raw.exists(VERSION_KEY)


@pytest.mark.django_db
def test_cached_api_responses_are_per_tenant(alpha, beta, django_capture_on_commit_callbacks):
    path = "/api/v1/catalog/products/?ordering=name"
    first = alpha.client().get(path)
    assert (first["X-Cache"], alpha.client().get(path)["X-Cache"]) == ("miss", "hit")
    on_beta = beta.client().get(path)
    assert on_beta["X-Cache"] == "miss"  # alpha's entry is not beta's
    names = [product["name"] for product in on_beta.json()["results"]]
    assert names == ["Widget beta"]
    assert beta.client().get(path)["X-Cache"] == "hit"
    # A write in alpha makes alpha's pages stale, and only alpha's.
    with django_capture_on_commit_callbacks(execute=True):
        changed = alpha.client().patch(
            f"/api/v1/catalog/products/{alpha.product.pk}/", {"price": "11.00"}, format="json"
        )
    assert changed.status_code == 200
    assert alpha.client().get(path)["X-Cache"] == "miss"
    assert beta.client().get(path)["X-Cache"] == "hit"


@pytest.mark.django_db
def test_rate_limits_spent_in_alpha_leave_beta_s_budget(settings, tenant_a, tenant_b):
    """Same client address, same e-mail: the login buckets are per tenant."""
    settings.ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "100/min", "per_ip": "3/min"}
    address = "198.51.100.77"

    def login(host: str):
        return APIClient(HTTP_HOST=host, REMOTE_ADDR=address).post(
            "/api/v1/auth/token/", {"email": "nobody@x.test", "password": "x"}, format="json"
        )

    assert [login("alpha.localhost").status_code for _ in range(4)] == [401, 401, 401, 429]
    assert login("beta.localhost").status_code == 401  # beta's bucket is untouched
    with tenant_scope(tenant_b):
        beta_bucket = scoped_key("ratelimit", "login-ip", address)
    with tenant_scope(tenant_a):
        alpha_bucket = scoped_key("ratelimit", "login-ip", address)
    raw = cache_redis()
    assert raw.exists(alpha_bucket) and raw.exists(beta_bucket)
    assert int(raw.get(alpha_bucket)) > int(raw.get(beta_bucket))


@pytest.mark.django_db
def test_locks_of_one_tenant_never_block_the_other(tenant_a, tenant_b, alpha, beta, media):
    with tenant_scope(tenant_a):
        alpha_lock = tenant_lock("catalog-import", timeout=30)
        held = alpha_lock.__enter__()
    try:
        with (
            tenant_scope(tenant_a),
            pytest.raises(LockHeld),
            tenant_lock("catalog-import", timeout=1),
        ):
            pass
        # Beta's import runs while alpha's lock is held, and its tokens are its own.
        with tenant_scope(tenant_b):
            with tenant_lock("catalog-import", timeout=30) as beta_lock:
                assert beta_lock.held() and held.held()
            path = transfer.import_accept(upload=_upload(b"sku,name,price,category\n"))
            job = jobs.job_create(kind="catalog.import", created_by=beta.owner, input_path=path)
            transfer.import_run(job=job)
            job.refresh_from_db()
            assert job.error.get("code") != "lock_held", job.error
    finally:
        alpha_lock.__exit__(None, None, None)


def _upload(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("products.csv", content, "text/csv")


@pytest.mark.django_db
def test_idempotency_keys_are_per_tenant(tenant_a, tenant_b):
    marker = uuid.uuid4().hex
    for tenant in (tenant_a, tenant_b, tenant_a, tenant_b):
        with tenant_scope(tenant):
            count_effect.delay(marker, idempotency_key=f"same-{marker}")
    # One effect per tenant: the second send in each is a duplicate of that tenant's first,
    # and beta's first is not a duplicate of alpha's.
    assert (effects(tenant_a, marker), effects(tenant_b, marker)) == (1, 1)


@pytest.mark.django_db
def test_job_progress_lives_in_its_tenant(alpha, beta):
    raw = cache_redis()
    with tenant_scope(alpha.tenant):
        alpha_key = scoped_key("job", alpha.running_job.pk, "progress")
        # A job row of alpha reusing beta's job id reads alpha's key, which does not exist.
        beta_key_in_alpha = scoped_key("job", beta.running_job.pk, "progress")
    with tenant_scope(beta.tenant):
        beta_key = scoped_key("job", beta.running_job.pk, "progress")
    assert raw.get(alpha_key) == b"42" and raw.get(beta_key) == b"42"
    assert not raw.exists(beta_key_in_alpha)
    assert alpha_key.startswith("t:alpha:") and beta_key.startswith("t:beta:")


# ---------------------------------------------------------------------------- the key audit


def exercise(world) -> set[str]:
    """Every mechanism that writes to Redis, in ``world``'s tenant; the keys that existed
    only meanwhile (a held lock) are returned."""
    client = world.client()
    for _ in range(2):  # a miss that fills the cache, then a hit
        client.get("/api/v1/catalog/products/")
    client.get(f"/api/v1/jobs/{world.running_job.pk}/")  # progress read
    APIClient(HTTP_HOST=world.host).post(
        "/api/v1/auth/token/",
        {"email": world.owner.email, "password": OWNER_PASSWORD},
        format="json",
    )
    with tenant_scope(world.tenant):
        cache.set("isolation-audit", "x")
        with tenant_lock("isolation-audit", timeout=30):
            held = keys_of(cache_redis())
        count_effect.delay("audit", idempotency_key="audit")
        jobs.job_progress(job=world.running_job, percent=50)
    assert scoped_key_in(held, world.tenant.schema_name, "lock")
    return held


def scoped_key_in(keys: set[str], schema: str, purpose: str) -> bool:
    return any(key.startswith(f"t:{schema}:{purpose}:") for key in keys)


@pytest.mark.django_db
def test_every_redis_key_carries_its_tenant_or_is_a_platform_key(alpha, beta):
    Client(HTTP_HOST="localhost").get("/api/schema/")  # the platform host's throttle
    worlds = {"alpha": alpha, "beta": beta}
    ids = {slug: _ids(world) for slug, world in worlds.items()}
    meanwhile: set[str] = set()
    for world in worlds.values():
        meanwhile |= exercise(world)

    seen: dict[str, set[str]] = {"alpha": set(), "beta": set()}
    unknown = []
    for key in sorted(keys_of(cache_redis()) | meanwhile):
        tenant, platform = TENANT_KEY.match(key), PLATFORM_KEY.match(key)
        if tenant and tenant["purpose"] in TENANT_PURPOSES.keys() | TEST_PURPOSES:
            schema = tenant["schema"]
            if schema in seen:
                seen[schema].add(tenant["purpose"])
                other = "beta" if schema == "alpha" else "alpha"
                leaked = [value for value in ids[other] if value in key]
                assert not leaked, f"{key} of {schema} names {other}'s {leaked}"
        elif platform and platform["purpose"] in PLATFORM_PURPOSES.keys() | TEST_PURPOSES:
            # (p:test:… are the real-worker tests' platform-task markers, tests/tasks)
            for slug in ids:
                assert not any(value in key for value in ids[slug]), key
        else:
            unknown.append(key)
    assert not unknown, (
        f"Redis keys outside the key space, or of a purpose nobody listed: {unknown}. Build "
        "keys with scoped_key()/public_key() and list a new purpose in this test."
    )
    for slug in worlds:
        assert seen[slug] >= set(TENANT_PURPOSES), (slug, set(TENANT_PURPOSES) - seen[slug])
    _audit_platform_values(ids)


def _ids(world) -> set[str]:
    return {
        str(value)
        for value in (
            world.owner.pk,
            world.member.pk,
            world.product.pk,
            world.review.pk,
            world.category.pk,
            world.job.pk,
            world.running_job.pk,
        )
    }


def _audit_platform_values(ids: dict[str, set[str]]) -> None:
    """The routing directory holds hosts and their tenants' routing fields (and allowed CORS
    origins, and the MFA rule), nothing else."""
    raw = cache_redis()
    assert raw.get(VERSION_KEY).isdigit()
    fields = {
        "id",
        "slug",
        "name",
        "schema_name",
        "status",
        "plan",
        "cors_origins",
        "require_mfa_for_admins",
    }
    for host, record in raw.hgetall(HOSTS_KEY).items():
        assert set(json.loads(record)) == fields, (host, record)
    for key in keys_of(raw):
        if key.startswith("p:ratelimit:"):
            # Addresses, or a hash of an operator's e-mail (platform admin sign-in).
            assert re.fullmatch(
                r"p:ratelimit:([a-z-]+:ip:[0-9a-f.:]+|login-ip:[0-9a-f.:]+|login-email:[0-9a-f]{32})",
                key,
            ), key
        if key.startswith("p:idem:"):
            # Only platform tasks claim here; a tenant task's claim is in its tenant's space.
            assert re.fullmatch(r"p:idem:(tenants|platform)\.[a-z_.]+:[^:]+", key), key


@async_test
async def test_channel_layer_keys_name_only_tenant_groups(socket_tokens, tenant_a, tenant_b):
    """The channel layer's keys are shared transport (p:asgi…, its own Redis database); the
    groups in them are always a tenant's, and sockets of alpha sit in alpha's groups only."""
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    alpha_owner = await in_thread(tenant_user, tenant_a, "owner@alpha.test")
    beta_owner = await in_thread(tenant_user, tenant_b, "owner@beta.test")
    async with (
        open_socket(host="alpha.localhost", subprotocols=["bearer", socket_tokens["alpha"].access]),
        open_socket(host="beta.localhost", subprotocols=["bearer", socket_tokens["beta"].access]),
    ):
        await in_thread(publish_tenant_event, tenant_a, "isolation.audit", id=1, data={})
        await in_thread(
            publish_user_event, tenant_b, beta_owner.pk, "isolation.audit", id=2, data={}
        )
        keys = await in_thread(lambda: keys_of(channel_redis()))
    groups = set()
    for key in keys:
        assert key.startswith(prefix), key
        if key.startswith(f"{prefix}:group:"):
            groups.add(key.removeprefix(f"{prefix}:group:"))
    users = {"alpha": str(alpha_owner.pk), "beta": str(beta_owner.pk)}
    mine = {group for group in groups if group.startswith(("t.alpha.", "t.beta."))}
    assert {
        "t.alpha.tenant",
        "t.beta.tenant",
        f"t.alpha.user.{users['alpha']}",
        f"t.beta.user.{users['beta']}",
    } <= mine
    # and each socket is in its session's group, within its tenant
    assert {group.split(".")[1] for group in mine if ".session." in group} == {"alpha", "beta"}
    for group in groups:
        match = re.fullmatch(
            r"t\.(?P<schema>[a-z0-9_]+)\.(tenant|user\.(?P<user>[0-9a-f-]{36})"
            r"|session\.[0-9a-f-]{36})",
            group,
        )
        assert match, group
        if match["schema"] in users and match["user"]:
            other = "beta" if match["schema"] == "alpha" else "alpha"
            assert match["user"] != users[other], group


def test_the_brokers_and_the_channel_layers_keys_are_not_in_the_tenant_key_space():
    """Celery's and Channels' keys cannot carry a tenant prefix, so they must not share the
    Redis database of the tenant key space; by default too, with only REDIS_URL set."""
    import subprocess
    import sys

    from tests.fixtures import REPO_ROOT

    script = (
        "import json, config.settings.base as s; print(json.dumps([s.REDIS_URL, "
        "s.CELERY_BROKER_URL, s.CELERY_RESULT_BACKEND, s.CHANNEL_REDIS_URL]))"
    )
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cache_url, broker, results, channels_url = json.loads(out)
    assert len({cache_url, broker, channels_url}) == 3, (cache_url, broker, channels_url)
    assert results != cache_url
