"""The events socket (``/ws/events/``): a user's stream of its tenant's and its own events.

The consumer joins two groups, built here from the authenticated scope and never from
anything the client sends: its tenant's (``t.<schema>.tenant``) and its user's
(``t.<schema>.user.<id>``). Clients only send pings; anything else is answered with an
error message, never with a crash, and an oversized frame closes the socket (1009).

A user holds at most ``ATRIUM_WS_MAX_SOCKETS_PER_USER`` sockets across every server process:
each socket holds a lease in the set ``t:<schema>:sockets:<user id>`` (Redis), renewed
while it is open and released when it closes; one socket more is closed with 4429
``too_many_sockets``. When Redis cannot answer, the cap is not enforced (fail open, like
the API's rate limits): without Redis the channel layer is down too, and the socket closes
with 1013 anyway. Once joined to its groups, a socket checks its token once more, so a
logout or deactivation that committed while it connected cannot miss it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from atrium.conf import atrium_settings
from atrium.platform.accounts.tokens import session_id_of
from atrium.platform.redis import lease_acquire, lease_release, lease_renew
from atrium.tenants.asgi import CLOSE_TOO_MANY_SOCKETS, CLOSE_UNAUTHORIZED
from atrium.tenants.context import current_tenant
from atrium.tenants.keyspace import scoped_key
from atrium.tenants.sockets import session_group, tenant_group, user_group

from .events import EVENT_MESSAGE_TYPE
from .middleware import negotiated_subprotocol, revoked_reason

logger = logging.getLogger(__name__)

CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
# The Redis key purpose of the per-user socket lease sets.
SOCKET_LEASE_PURPOSE = "sockets"


def socket_lease_key(user_id: object) -> str:
    """The lease set of one user's open sockets in the current tenant."""
    return scoped_key(SOCKET_LEASE_PURPOSE, user_id)


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """Delivers events to one authenticated user of one tenant (see the module docstring)."""

    _expiry_task: asyncio.Task[None] | None = None
    _lease_task: asyncio.Task[None] | None = None
    _lease_key: str | None = None
    _closing = False

    async def connect(self) -> None:
        tenant = current_tenant()
        if not await self._take_slot():
            await self._refuse(CLOSE_TOO_MANY_SOCKETS, "too_many_sockets")
            return
        groups = [tenant_group(), user_group(self.scope["user"].pk)]
        if (session := session_id_of(self.scope["token"])) is not None:
            groups.append(session_group(session))  # closed when that session is revoked
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except (RedisError, OSError):
            logger.exception("realtime: cannot join the groups of %s", tenant.schema_name)
            await self._refuse(CLOSE_TRY_AGAIN_LATER, "unavailable")
            return
        self.groups = groups  # left again by websocket_disconnect
        # A revocation that committed after the middleware's check sent its close to the
        # user's group before this socket was in it: look again, now that it is.
        reason = await revoked_reason(self.scope["token"])
        if reason is not None:
            await self._refuse(CLOSE_UNAUTHORIZED, reason)
            return
        await self.accept(negotiated_subprotocol(self.scope))
        self._expiry_task = asyncio.create_task(self._close_when_token_expires())
        if self._lease_key is not None:
            self._lease_task = asyncio.create_task(self._renew_lease(self._lease_key))

    async def _refuse(self, code: int, reason: str) -> None:
        """Accept and close at once (the code reaches the client; see middleware.refuse)."""
        self._closing = True
        await self.accept(negotiated_subprotocol(self.scope))
        await self.close(code=code, reason=reason)

    async def _take_slot(self) -> bool:
        """A lease among the user's ATRIUM_WS_MAX_SOCKETS_PER_USER sockets; False when full."""
        limit = atrium_settings.WS_MAX_SOCKETS_PER_USER
        if limit <= 0:
            return True
        key = socket_lease_key(self.scope["user"].pk)
        try:
            taken = await asyncio.to_thread(
                lease_acquire,
                key,
                self.channel_name,
                limit=limit,
                lease=atrium_settings.WS_SOCKET_LEASE_SECONDS,
            )
        except (RedisError, OSError) as error:
            # Fail open: the cap protects capacity, and without Redis nothing is delivered.
            logger.warning("realtime: socket cap not enforced, Redis unavailable: %s", error)
            return True
        if taken:
            self._lease_key = key
        return taken

    async def _renew_lease(self, key: str) -> None:
        lease = atrium_settings.WS_SOCKET_LEASE_SECONDS
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await asyncio.to_thread(lease_renew, key, self.channel_name, lease=lease)
            except (RedisError, OSError) as error:
                logger.warning("realtime: could not renew the lease of a socket: %s", error)

    async def _release_slot(self) -> None:
        key, self._lease_key = self._lease_key, None
        if key is None:
            return
        try:
            await asyncio.to_thread(lease_release, key, self.channel_name)
        except (RedisError, OSError):
            # The lease ends on its own within ATRIUM_WS_SOCKET_LEASE_SECONDS.
            logger.warning("realtime: could not release the lease of %s", key, exc_info=True)

    async def _close_when_token_expires(self) -> None:
        """A socket lives no longer than its token: the client reconnects with a fresh one,
        and a suspended tenant or deactivated user is cut off by then at the latest."""
        await asyncio.sleep(max(0.0, float(self.scope["token"]["exp"]) - time.time()))
        self._closing = True
        await self.close(code=CLOSE_UNAUTHORIZED, reason="token_expired")

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        text, data = message.get("text"), message.get("bytes")
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > atrium_settings.WS_MAX_MESSAGE_BYTES:
            self._closing = True
            await self.close(code=CLOSE_MESSAGE_TOO_BIG, reason="message_too_big")
            return
        if text is None:
            await self.send_error("binary_not_supported", "Send JSON objects as text frames.")
            return
        try:
            content = json.loads(text)
        except (ValueError, RecursionError):
            await self.send_error("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("invalid_message", 'Send a JSON object with a "type".')
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_error("unknown_type", 'The only message a client sends is "ping".')

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail})

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels raises on a message type without a handler, which would end the socket;
        # a stray channel-layer message sent to a whole tenant group must not end them all.
        if message.get("type") == EVENT_MESSAGE_TYPE:
            # An event touches no database, so it skips Channels' per-message
            # close_old_connections(): that runs on the one shared sync thread and would
            # queue a fan-out to a thousand sockets behind it, one socket at a time.
            await self.realtime_event(message)
            return
        name = str(message.get("type", "")).replace(".", "_")
        if not name or name.startswith("_") or not callable(getattr(self, name, None)):
            logger.error("realtime: dropped a message of unknown type %r", message.get("type"))
            return
        await super().dispatch(message)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """An event from ``events.publish_to_*`` (channel-layer type ``realtime.event``),
        already encoded once for every socket."""
        if message.get("schema") != self.scope["tenant"].schema_name:
            # Group names carry the tenant, so this means a bug elsewhere: never deliver it.
            logger.error("realtime: dropped an event of another tenant on %s", self.groups)
            return
        await self.send(text_data=message["text"])

    async def socket_close(self, message: dict[str, Any]) -> None:
        """A status change elsewhere (``tenants.sockets.close_sockets``) ends this socket."""
        self._closing = True
        await self.close(code=int(message["code"]), reason=str(message.get("reason", "")))

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        for task in (self._expiry_task, self._lease_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._release_slot()
        groups, self.groups = self.groups, []
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except (RedisError, OSError):
                # The membership expires on its own (group_expiry); the socket is gone.
                logger.warning("realtime: could not leave %s", group, exc_info=True)
        await super().websocket_disconnect(message)
