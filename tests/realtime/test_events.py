"""Events: published after commit, to one tenant's sockets or one user's, never further."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket as sockets_lib
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from atrium.platform.accounts.models import User
from atrium.platform.realtime.events import publish_to_tenant, publish_to_user
from atrium.tenants.context import NoTenantError, public_scope, tenant_scope

from .sockets import (
    access_token,
    async_test,
    in_thread,
    open_socket,
    publish_tenant_event,
    publish_user_event,
)


@async_test
async def test_a_tenant_event_reaches_its_own_sockets_and_never_another_tenants(
    tenant_a, tenant_b, alpha_token, beta_token
):
    async with (
        open_socket(token=alpha_token) as alpha,
        open_socket(host="beta.localhost", token=beta_token) as beta,
    ):
        # Beta's event goes first: if it leaked, it would be alpha's first message.
        await in_thread(publish_tenant_event, tenant_b, "product.created", id=2, data={"n": "b"})
        await in_thread(publish_tenant_event, tenant_a, "product.created", id=1, data={"n": "a"})

        assert (await alpha.receive_json_from(timeout=3))["id"] == 1
        assert (await beta.receive_json_from(timeout=3))["id"] == 2
        assert await alpha.receive_nothing(timeout=0.3)
        assert await beta.receive_nothing(timeout=0.3)


@async_test
async def test_the_event_has_type_id_data_and_timestamp(tenant_a, alpha_token):
    product_id = uuid.uuid4()
    async with open_socket(token=alpha_token) as alpha:
        before = dt.datetime.now(dt.UTC)
        await in_thread(
            publish_tenant_event,
            tenant_a,
            "product.updated",
            id=product_id,
            data={"price": Decimal("9.90"), "tags": ["a"]},
        )
        event = await alpha.receive_json_from(timeout=3)
    assert set(event) == {"type", "id", "data", "ts"}
    assert event["type"] == "product.updated"
    assert event["id"] == str(product_id)
    assert event["data"] == {"price": "9.90", "tags": ["a"]}
    assert before <= dt.datetime.fromisoformat(event["ts"]) <= dt.datetime.now(dt.UTC)


@async_test
async def test_a_user_event_reaches_only_that_users_sockets(
    tenant_a, tenant_b, alpha_owner, alpha_member, alpha_token
):
    member_token = await in_thread(access_token, tenant_a, alpha_member)
    async with (
        open_socket(token=alpha_token) as owner_socket,
        open_socket(token=member_token) as member_socket,
        open_socket(token=member_token) as member_second_tab,
    ):
        # The same user id published in beta names beta's group, not alpha's.
        await in_thread(publish_user_event, tenant_b, alpha_member.pk, "job.done", id=0, data={})
        await in_thread(publish_user_event, tenant_a, alpha_member.pk, "job.done", id=1, data={})

        assert (await member_socket.receive_json_from(timeout=3))["id"] == 1
        assert (await member_second_tab.receive_json_from(timeout=3))["id"] == 1
        assert await owner_socket.receive_nothing(timeout=0.3)
        assert await member_socket.receive_nothing(timeout=0.1)

        # And the owner's own events reach the owner only.
        await in_thread(publish_user_event, tenant_a, alpha_owner.pk, "job.done", id=2, data={})
        assert (await owner_socket.receive_json_from(timeout=3))["id"] == 2
        assert await member_socket.receive_nothing(timeout=0.3)


@async_test
async def test_an_event_is_sent_after_commit_and_never_after_rollback(tenant_a, alpha_token):
    async with open_socket(token=alpha_token) as alpha:

        def rolled_back() -> None:
            with tenant_scope(tenant_a), pytest.raises(ZeroDivisionError), transaction.atomic():
                publish_to_tenant("product.created", id="rolled-back", data={})
                _ = 1 / 0

        def committed() -> None:
            with tenant_scope(tenant_a), transaction.atomic():
                publish_to_tenant("product.created", id="committed", data={})
                # Still inside the transaction: nothing may have reached the socket.
                assert async_to_sync(alpha.receive_nothing)(timeout=0.3)

        await in_thread(rolled_back)
        await in_thread(committed)
        assert (await alpha.receive_json_from(timeout=3))["id"] == "committed"
        assert await alpha.receive_nothing(timeout=0.3)


def test_publishing_needs_a_tenant(live_db):
    with pytest.raises(NoTenantError):
        publish_to_tenant("product.created", id=1, data={})
    with public_scope(), pytest.raises(NoTenantError):
        publish_to_user(uuid.uuid4(), "product.created", id=1, data={})


@pytest.mark.parametrize("event_type", ["pong", "error", "Product.Created", "a..b", "", None])
def test_event_types_are_entity_dot_action(tenant_a, live_db, event_type):
    with tenant_scope(tenant_a), pytest.raises(ValueError, match="event type"):
        publish_to_tenant(event_type, id=1, data={})


def test_user_ids_cannot_reach_into_other_group_names(tenant_a, live_db):
    with tenant_scope(tenant_a), pytest.raises(ValueError):
        publish_to_user("x.tenant", "product.created", id=1, data={})


def test_data_that_cannot_be_encoded_fails_the_caller_not_the_commit(tenant_a, live_db):
    with tenant_scope(tenant_a), pytest.raises(TypeError):
        publish_to_tenant("product.created", id=1, data={"x": object()})


def _closed_port() -> int:
    with sockets_lib.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_channel_layer_outage_is_logged_and_the_write_stays_committed(
    settings, tenant_a, live_db, caplog
):
    layers = {"default": {**settings.CHANNEL_LAYERS["default"]}}
    layers["default"]["CONFIG"] = {
        **layers["default"]["CONFIG"],
        "hosts": [{"address": f"redis://127.0.0.1:{_closed_port()}/0"}],
    }
    settings.CHANNEL_LAYERS = layers
    email = f"{uuid.uuid4().hex}@alpha.test"
    try:
        with (
            caplog.at_level(logging.ERROR, logger="atrium.platform.realtime.events"),
            tenant_scope(tenant_a),
            transaction.atomic(),
        ):
            user = User.objects.create_user(email=email)
            publish_to_user(user.pk, "user.created", id=user.pk, data={})
        assert "could not publish" in caplog.text
        with tenant_scope(tenant_a):
            assert User.objects.filter(email=email).exists()
    finally:
        with tenant_scope(tenant_a):
            User.objects.filter(email=email).delete()


@async_test
async def test_a_message_of_another_tenant_is_dropped_even_in_the_right_group(
    tenant_a, alpha_token
):
    layer = get_channel_layer()

    def event(schema: str, event_id: int) -> dict:
        text = json.dumps({"type": "product.created", "id": event_id, "data": {}, "ts": ""})
        return {"type": "realtime.event", "schema": schema, "text": text}

    async with open_socket(token=alpha_token) as alpha:
        await layer.group_send("t.alpha.tenant", event("beta", 1))
        # The group name was right: a message of its own tenant, sent after, arrives. The
        # layer keeps a group's order, so the other tenant's would have come first.
        await layer.group_send("t.alpha.tenant", event("alpha", 2))
        assert (await alpha.receive_json_from(timeout=10))["id"] == 2
        assert await alpha.receive_nothing(timeout=0.3)  # nor does it come late


@async_test
async def test_a_stray_channel_layer_message_does_not_end_the_sockets(alpha_token):
    layer = get_channel_layer()
    async with open_socket(token=alpha_token) as alpha:
        for stray in ({"type": "product.created", "id": 1}, {"type": "_private"}, {"x": 1}):
            await layer.group_send("t.alpha.tenant", stray)
        assert await alpha.receive_nothing(timeout=0.3)
        await alpha.send_json_to({"type": "ping"})
        assert await alpha.receive_json_from() == {"type": "pong"}
