"""Closing open WebSockets from anywhere, so a change of status reaches sockets already open.

    close_sockets(group_name("tenant"), code=CLOSE_FORBIDDEN, reason="tenant_suspended")

Every events socket handles the channel-layer message ``socket.close`` by closing itself
with the code and reason it carries (the close codes are the ASGI door's,
``atrium.tenants.asgi``). The message is sent after the current transaction commits (at
once outside one), through the channel layer, so it reaches the sockets of every server
process. Delivery is best effort within ATRIUM_REALTIME_PUBLISH_TIMEOUT: the token expiry
and the checks at connect time remain the backstop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from atrium.conf import atrium_settings

from .asgi import CLOSE_FORBIDDEN
from .context import current_tenant
from .keyspace import group_name, group_name_for_schema, tenant_group_pattern

logger = logging.getLogger(__name__)

# The channel-layer message type; Channels dispatches it to the consumer's socket_close.
SOCKET_CLOSE_MESSAGE_TYPE = "socket.close"


def tenant_group() -> str:
    """The group of every socket of the current tenant."""
    current_tenant()  # raises outside a tenant: the public scope has no sockets
    return group_name("tenant")


def user_group(user_id: object) -> str:
    """The group of every socket of one user of the current tenant."""
    current_tenant()  # raises outside a tenant: the public scope has no sockets
    return group_name("user", user_id)


def session_group(session_id: object) -> str:
    """The group of the sockets opened with one session's access tokens (current tenant)."""
    current_tenant()  # raises outside a tenant: the public scope has no sockets
    return group_name("session", session_id)


def close_sockets(group: str, *, code: int, reason: str) -> None:
    """Close every socket in ``group`` with ``code`` once the current transaction commits."""
    message = {"type": SOCKET_CLOSE_MESSAGE_TYPE, "code": code, "reason": reason}
    transaction.on_commit(functools.partial(_send, group, message))


def tenant_sockets_close(schema_name: str, *, reason: str) -> None:
    """Close every open socket of a tenant (4403 ``reason``) once the transaction commits."""
    close_sockets(group_name_for_schema(schema_name, "tenant"), code=CLOSE_FORBIDDEN, reason=reason)


def tenant_groups_purge(schema_name: str) -> int:
    """Delete a tenant's channel groups from the channel layer; returns how many.

    Sockets leave their groups when they close, but a leave that failed (Redis away, a
    server killed) stays until ``group_expiry``. Groups are found through channels-redis'
    own key layout (``_group_key``); a layer without one (in-memory) keeps its groups in
    its server process, where the closed sockets have left them.
    """
    layer = get_channel_layer()
    if layer is None or not hasattr(layer, "_group_key"):
        return 0
    return async_to_sync(_purge_groups)(layer, tenant_group_pattern(schema_name))


async def _purge_groups(layer, pattern: str) -> int:
    match = layer._group_key(pattern).decode()
    deleted = 0
    for index in range(layer.ring_size):  # groups are spread over every shard
        connection = layer.connection(index)
        keys = [key async for key in connection.scan_iter(match=match, count=1000)]
        for start in range(0, len(keys), 1000):
            deleted += await connection.delete(*keys[start : start + 1000])
    return deleted


def send_to_group(group: str, message: dict) -> None:
    """Send a channel-layer message to a group now (blocking, within the publish timeout)."""
    async_to_sync(_group_send)(group, message)


def send_to_groups(messages: Sequence[tuple[str, dict]]) -> None:
    """Send (group, message) pairs now, in order, through one event loop (one hop to it,
    not one per message), each within the publish timeout. The first failure stops the
    rest and is raised: a layer that is down would make every message wait the timeout."""
    if messages:
        async_to_sync(_group_send_all)(messages)


def _send(group: str, message: dict) -> None:
    try:
        send_to_group(group, message)
    except Exception:
        # The status change has committed; sockets still close when their token expires.
        logger.exception("realtime: could not close the sockets of %s", group)


async def _group_send_all(messages: Sequence[tuple[str, dict]]) -> None:
    for group, message in messages:
        await _group_send(group, message)


async def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured.")
    async with asyncio.timeout(atrium_settings.REALTIME_PUBLISH_TIMEOUT):
        await layer.group_send(group, message)
