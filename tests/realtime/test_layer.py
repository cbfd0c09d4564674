"""The channel layer's receive path: one reader per process, on the real Redis."""

from __future__ import annotations

import asyncio
import socket
import uuid

import redis.exceptions
from django.conf import settings

from atrium.platform.realtime.layers import FanoutRedisChannelLayer


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_layer(address: str | None = None) -> FanoutRedisChannelLayer:
    host = {**settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]}
    if address is not None:
        host["address"] = address
    return FanoutRedisChannelLayer(hosts=[host], prefix=f"p:asgi-layer-test-{uuid.uuid4().hex}")


async def receive_all(layer, channels: list[str]) -> list[dict]:
    return await asyncio.wait_for(
        asyncio.gather(*(layer.receive(channel) for channel in channels)), timeout=10
    )


def test_a_group_send_reaches_every_receiving_channel_once():
    async def scenario():
        layer = new_layer()
        channels = [await layer.new_channel() for _ in range(200)]
        for channel in channels:
            await layer.group_add("t.alpha.tenant", channel)
        receiving = asyncio.ensure_future(receive_all(layer, channels))
        await asyncio.sleep(0.1)
        await layer.group_send("t.alpha.tenant", {"type": "realtime.event", "n": 1})
        first = await receiving
        # Each channel got the message once: a second receive gets the second message.
        await layer.group_send("t.alpha.tenant", {"type": "realtime.event", "n": 2})
        second = await receive_all(layer, channels)
        await layer.flush()
        return first, second

    first, second = asyncio.run(scenario())
    assert [message["n"] for message in first] == [1] * 200
    assert [message["n"] for message in second] == [2] * 200


def test_a_channel_that_stops_receiving_is_forgotten_and_the_reader_stops():
    async def scenario():
        layer = new_layer()
        staying, leaving = await layer.new_channel(), await layer.new_channel()
        for channel in (staying, leaving):
            await layer.group_add("t.beta.tenant", channel)
        left = asyncio.ensure_future(layer.receive(leaving))
        stays = asyncio.ensure_future(layer.receive(staying))
        await asyncio.sleep(0.1)
        left.cancel()  # what Channels does when a socket closes
        await asyncio.sleep(0)
        await layer.group_send("t.beta.tenant", {"type": "realtime.event"})
        await asyncio.wait_for(stays, timeout=5)
        buffered = set(layer._buffers)
        stays_again = asyncio.ensure_future(layer.receive(staying))
        await asyncio.sleep(0.1)
        stays_again.cancel()
        await asyncio.sleep(0.1)
        reader = layer._reader
        await layer.flush()
        return staying, buffered, dict(layer._buffers), reader

    staying, buffered, buffers_after, reader = asyncio.run(scenario())
    assert buffered == {staying}, "the channel that left must not keep a buffer"
    assert buffers_after == {}
    assert reader is None, "nobody receives: the reader must stop popping the queue"


def test_a_redis_failure_reaches_every_waiting_consumer():
    """As with channels-redis, receivers raise, so their sockets close and the clients
    reconnect (and join their groups again) instead of waiting on a dead layer."""

    async def scenario():
        layer = new_layer(f"redis://127.0.0.1:{unused_port()}/0")
        channels = [await layer.new_channel() for _ in range(3)]
        results = await asyncio.wait_for(
            asyncio.gather(*(layer.receive(c) for c in channels), return_exceptions=True),
            timeout=10,
        )
        return results, dict(layer._buffers)

    results, buffers_after = asyncio.run(scenario())
    assert len(results) == 3
    assert all(isinstance(r, redis.exceptions.ConnectionError) for r in results), results
    assert buffers_after == {}
