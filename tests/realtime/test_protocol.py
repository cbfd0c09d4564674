"""What clients send: pings, garbage, oversized frames, and attempts to pick groups."""

from __future__ import annotations

import redis
from channels.layers import get_channel_layer
from django.conf import settings

from .sockets import async_test, in_thread, open_socket, publish_tenant_event


async def assert_alive(socket) -> None:
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}


@async_test
async def test_garbage_gets_an_error_and_the_socket_lives_on(alpha_token):
    cases = [
        ({"text_data": "not json"}, "invalid_json"),
        ({"text_data": "[" * 60_000}, "invalid_json"),  # deeper than json can recurse
        ({"bytes_data": b"\x00\x01binary"}, "binary_not_supported"),
        ({"text_data": "[1, 2]"}, "invalid_message"),
        ({"text_data": '"ping"'}, "invalid_message"),
        ({"text_data": '{"type": 7}'}, "invalid_message"),
        ({"text_data": "{}"}, "invalid_message"),
        ({"text_data": '{"type": "subscribe"}'}, "unknown_type"),
        ({"text_data": '{"type": "realtime.event", "text": "x"}'}, "unknown_type"),
    ]
    async with open_socket(token=alpha_token) as socket:
        for frame, code in cases:
            await socket.send_to(**frame)
            answer = await socket.receive_json_from()
            assert (answer["type"], answer["code"]) == ("error", code), frame
            assert answer["detail"]
        await assert_alive(socket)


@async_test
async def test_an_oversized_frame_closes_the_socket_with_1009(alpha_token):
    limit = settings.ATRIUM_WS_MAX_MESSAGE_BYTES
    async with open_socket(token=alpha_token) as socket:
        # At the limit (in bytes, not characters) a frame is still read.
        await socket.send_to(text_data='{"type":"ping","pad":"' + "é" * ((limit - 30) // 2) + '"}')
        assert await socket.receive_json_from() == {"type": "pong"}
        # Half as many characters as the limit, but more bytes than it.
        await socket.send_to(text_data="é" * (limit // 2 + 1))
        message = await socket.receive_output()
        assert (message["type"], message["code"]) == ("websocket.close", 1009)
        # Frames still in flight after the close are ignored.
        await socket.send_to(text_data='{"type":"ping"}')
        assert await socket.receive_nothing(timeout=0.2)

    async with open_socket(token=alpha_token) as socket:
        await socket.send_to(bytes_data=b"x" * (limit + 1))
        message = await socket.receive_output()
        assert (message["type"], message["code"]) == ("websocket.close", 1009)


def group_members(group: str) -> int:
    """Channels in a group, read from the channel layer's own Redis key."""
    layer = get_channel_layer()
    client = redis.Redis.from_url(settings.CHANNEL_REDIS_URL)
    try:
        return client.zcard(layer._group_key(group))
    finally:
        client.close()


@async_test
async def test_clients_cannot_choose_their_groups(tenant_a, tenant_b, alpha_owner, alpha_token):
    groups = ["t.alpha.tenant", f"t.alpha.user.{alpha_owner.pk}", "t.beta.tenant"]
    before = [await in_thread(group_members, group) for group in groups]
    attempts = "group=t.beta.tenant&groups=t.beta.tenant&tenant=beta&schema=beta"
    async with open_socket(token=alpha_token, query=attempts) as socket:
        for frame in (
            {"type": "subscribe", "group": "t.beta.tenant"},
            {"type": "group_add", "groups": ["t.beta.tenant"]},
            {"type": "ping", "group": "t.beta.tenant"},
        ):
            await socket.send_json_to(frame)
            await socket.receive_json_from()
        during = [await in_thread(group_members, group) for group in groups]
        assert [now - then for now, then in zip(during, before, strict=True)] == [1, 1, 0]

        await in_thread(publish_tenant_event, tenant_b, "product.created", id=1, data={})
        # Control on the same socket: its own tenant's event, sent after, is the first to
        # arrive (the other tenant's would have come before it), and nothing follows.
        await in_thread(publish_tenant_event, tenant_a, "product.created", id=2, data={})
        assert (await socket.receive_json_from(timeout=10))["id"] == 2
        assert await socket.receive_nothing(timeout=0.5)

    # Leaving: once disconnected, the socket is out of both of its groups.
    assert [await in_thread(group_members, group) for group in groups] == before
