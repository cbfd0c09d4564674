"""Channels: no client input chooses a group, and a socket of alpha never gets beta's events.

The groups a socket joins are recorded at the channel layer itself (``group_add``), so the
test sees every group, whatever the consumer's code does. The attacks: a query string,
extra subprotocols, headers and frames naming beta's groups; a user of alpha whose name and
e-mail look like group names; a user of beta with the very same id as alpha's owner; and a
stream of interleaved events of both tenants, from the publishing API, from an HTTP write
and from a job, to several sockets of each.
"""

from __future__ import annotations

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Category, Product
from atrium.platform.accounts.models import Role, User
from atrium.platform.jobs import services as jobs
from atrium.platform.jobs.models import Job
from atrium.tenants.context import tenant_scope
from tests.realtime.sockets import (
    EVENTS_PATH,
    WebsocketCommunicator,
    async_test,
    in_thread,
    open_socket,
    publish_tenant_event,
    publish_user_event,
)

from .conftest import application, tenant_user, tokens_for


@pytest.fixture
def joined(monkeypatch) -> list[str]:
    """Every group any socket joins during the test, as the channel layer is asked."""
    groups: list[str] = []
    original = RedisChannelLayer.group_add

    async def group_add(self, group, channel):
        groups.append(group)
        return await original(self, group, channel)

    monkeypatch.setattr(RedisChannelLayer, "group_add", group_add)
    return groups


@pytest.fixture
def lookalike(live_db, tenant_a):
    """A user of alpha whose fields look like beta's group names."""
    with tenant_scope(tenant_a):
        user = User(email="t.beta.tenant@alpha.test", name="t.beta.tenant")
        user.apply_role(Role.MEMBER)
        user.save()
    yield user
    with tenant_scope(tenant_a):
        User.objects.filter(pk=user.pk).delete()


@async_test
async def test_no_client_input_chooses_a_group(tenant_a, tenant_b, lookalike, joined):
    beta_owner = await in_thread(tenant_user, tenant_b, "owner@beta.test")
    token = (await in_thread(tokens_for, tenant_a, lookalike)).access
    hostile = (
        f"group=t.beta.tenant&groups=t.beta.tenant&tenant=beta&schema=beta"
        f"&user={beta_owner.pk}&user_id={beta_owner.pk}&token=ignored"
    )
    headers = [
        (b"host", b"alpha.localhost"),
        (b"x-tenant", b"beta"),
        (b"x-forwarded-host", b"beta.localhost"),
        (b"cookie", b"tenant=beta; group=t.beta.tenant"),
    ]
    socket = WebsocketCommunicator(
        application,
        f"{EVENTS_PATH}?{hostile}",
        headers=headers,
        subprotocols=["bearer", token, "t.beta.tenant", "beta", f"user.{beta_owner.pk}"],
    )
    connected, subprotocol = await socket.connect(timeout=5)
    assert (connected, subprotocol) == (True, "bearer")
    try:
        for frame in (
            {"type": "subscribe", "group": "t.beta.tenant"},
            {"type": "group_add", "group": "t.beta.tenant"},
            {"type": "join", "groups": ["t.beta.tenant", f"t.beta.user.{beta_owner.pk}"]},
            {"type": "ping", "tenant": "beta", "user": str(beta_owner.pk)},
            {"type": "realtime.event", "schema": "beta", "text": "{}"},
        ):
            await socket.send_json_to(frame)
            assert (await socket.receive_json_from(timeout=3))["type"] in ("error", "pong")
        # The tenant's, the user's and the session's (named by the signed token) groups.
        sessions = [group for group in joined if group.startswith("t.alpha.session.")]
        assert len(sessions) == 1
        assert sorted(set(joined) - set(sessions)) == sorted(
            ["t.alpha.tenant", f"t.alpha.user.{lookalike.pk}"]
        )
        await in_thread(publish_tenant_event, tenant_b, "product.created", id="b", data={})
        await in_thread(
            publish_user_event, tenant_b, beta_owner.pk, "job.progress", id="b", data={}
        )
        # Alpha's event, sent last, is the first to arrive: nothing of beta came before it.
        await in_thread(publish_tenant_event, tenant_a, "product.created", id="a", data={})
        assert (await socket.receive_json_from(timeout=5))["id"] == "a"
        assert await socket.receive_nothing(timeout=0.3)
    finally:
        await socket.disconnect(timeout=5)


@pytest.fixture
def beta_twin_of_alpha_owner(live_db, tenant_a, tenant_b):
    """A user of beta with the very same id as alpha's owner (only a forgery does this)."""
    owner = tenant_user(tenant_a, "owner@alpha.test")
    with tenant_scope(tenant_b):
        twin = User(pk=owner.pk, email="twin@beta.test")
        twin.save(force_insert=True)
    yield owner, twin
    with tenant_scope(tenant_b):
        User.objects.filter(pk=twin.pk, email="twin@beta.test").delete()


@async_test
async def test_the_same_user_id_in_two_tenants_is_two_groups(
    tenant_a, tenant_b, beta_twin_of_alpha_owner
):
    owner, twin = beta_twin_of_alpha_owner
    alpha_token = (await in_thread(tokens_for, tenant_a, owner)).access
    twin_token = (await in_thread(tokens_for, tenant_b, twin)).access
    async with (
        open_socket(subprotocols=["bearer", alpha_token]) as alpha_socket,
        open_socket(host="beta.localhost", subprotocols=["bearer", twin_token]) as beta_socket,
    ):
        await in_thread(publish_user_event, tenant_b, twin.pk, "job.finished", id="b", data={})
        await in_thread(publish_user_event, tenant_a, owner.pk, "job.finished", id="a", data={})
        # Each socket's first message is its own tenant's, sent after the other's.
        assert (await beta_socket.receive_json_from(timeout=5))["id"] == "b"
        assert (await alpha_socket.receive_json_from(timeout=5))["id"] == "a"
        assert await alpha_socket.receive_nothing(timeout=0.3)
        assert await beta_socket.receive_nothing(timeout=0.3)


@pytest.fixture
def shelves(live_db, tenant_a, tenant_b):
    made = {}
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            made[tenant.slug] = catalog.category_create(name=f"Stream {tenant.slug}")
    yield made
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            Product.all_objects.filter(category=made[tenant.slug]).hard_delete()
            Category.all_objects.filter(pk=made[tenant.slug].pk).hard_delete()
            Job.objects.filter(kind="isolation.stream").delete()


def beta_writes(tenant_b, beta_owner, token: str, category) -> list[str]:
    """Beta's real writes: a product over HTTP and a job's life cycle; their event ids."""
    client = APIClient(HTTP_HOST="beta.localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = client.post(
        "/api/v1/catalog/products/",
        {"name": "Beta stream", "sku": "BS-1", "price": "2.00", "category": str(category.pk)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    with tenant_scope(tenant_b):
        job = jobs.job_create(kind="isolation.stream", created_by=beta_owner)
        jobs.job_start(job=job)
        jobs.job_progress(job=job, percent=50)
        jobs.job_finish(job=job, result={"rows": 0})
    return [created.json()["id"], str(job.pk)]


@async_test
async def test_interleaved_events_of_both_tenants_reach_exactly_their_own_sockets(
    tenant_a, tenant_b, socket_tokens, shelves
):
    beta_owner = await in_thread(tenant_user, tenant_b, "owner@beta.test")
    alpha_owner = await in_thread(tenant_user, tenant_a, "owner@alpha.test")
    tokens = {slug: pair.access for slug, pair in socket_tokens.items()}
    async with (
        open_socket(subprotocols=["bearer", tokens["alpha"]]) as a1,
        open_socket(subprotocols=["bearer", tokens["alpha"]]) as a2,
        open_socket(host="beta.localhost", subprotocols=["bearer", tokens["beta"]]) as b1,
        open_socket(host="beta.localhost", subprotocols=["bearer", tokens["beta"]]) as b2,
    ):
        sent = {"alpha": [], "beta": []}
        for n in range(8):
            for slug, tenant, user in (
                ("beta", tenant_b, beta_owner),
                ("alpha", tenant_a, alpha_owner),
            ):
                event_id = f"{slug}-{n}"
                if n % 2:
                    await in_thread(
                        publish_user_event, tenant, user.pk, "x.y", id=event_id, data={}
                    )
                else:
                    await in_thread(publish_tenant_event, tenant, "x.y", id=event_id, data={})
                sent[slug].append(event_id)
        beta_ids = await in_thread(
            beta_writes, tenant_b, beta_owner, tokens["beta"], shelves["beta"]
        )

        # A last event per tenant marks the end: each socket's queue is in order.
        for tenant in (tenant_a, tenant_b):
            await in_thread(publish_tenant_event, tenant, "x.end", id="end", data={})

        async def drain(socket) -> list[str]:
            got = []
            while not got or got[-1] != "end":
                got.append((await socket.receive_json_from(timeout=5))["id"])
            assert await socket.receive_nothing(timeout=0.2)
            return got[:-1]

        received = await asyncio.gather(drain(a1), drain(a2), drain(b1), drain(b2))
    for got in received[:2]:
        assert got == sent["alpha"], got
    for got in received[2:]:
        assert got[: len(sent["beta"])] == sent["beta"], got
        assert set(got[len(sent["beta"]) :]) == set(beta_ids), got
