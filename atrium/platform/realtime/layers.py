"""The channel layer: channels-redis, with a receive path that scales to many sockets.

channels-redis lets every consumer of a process race for one receive lock: each waiting
consumer creates two asyncio tasks per message (the lock and its own buffer) and cancels
one, and cancelling a waiter of a lock with a thousand waiters is itself O(n). An event
to a thousand sockets of one process therefore cost thousands of task creations and about
half the server's CPU (benchmarks/realtime.py, py-spy). Here one reader task per process
and event loop pops the process's Redis queue and fills the consumers' buffers; a consumer
only waits on its own buffer. Everything on the Redis side (capacity, expiry,
group_expiry, the in-flight backup queue) is channels-redis' own, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import BoundedQueue, RedisChannelLayer

logger = logging.getLogger(__name__)


class _ReaderFailed:
    """Put in every buffer when the reader fails: each waiting consumer raises the error,
    as with channels-redis, so its socket closes and the client reconnects (and joins its
    groups again, which a restarted Redis has lost)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class FanoutRedisChannelLayer(RedisChannelLayer):
    """``RedisChannelLayer`` whose process-local receive goes through one reader task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Buffers of the process-local channels that are being received on, by name; the
        # reader delivers only to these (a message for a channel no consumer receives on
        # any more is dropped instead of kept forever).
        self._buffers: dict[str, BoundedQueue] = {}
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel:
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # One event loop receives at a time, as with channels-redis (uvicorn has one;
            # tests start a new one per test): state of a finished loop is dropped.
            self._loop, self._buffers, self._reader = loop, {}, None
        buffer = self._buffers.get(channel)
        if buffer is None:
            buffer = self._buffers[channel] = BoundedQueue(self.capacity)
        self._ensure_reader()
        try:
            message = await buffer.get()
        except asyncio.CancelledError:
            # The consumer is gone (Channels cancels its receive when the socket closes).
            self._forget(channel)
            raise
        if isinstance(message, _ReaderFailed):
            self._forget(channel)
            raise message.error
        return message

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            # The Redis queue that all process-local channels of this layer share.
            self._reader = asyncio.create_task(self._read(f"specific.{self.client_prefix}!"))

    def _forget(self, channel: str) -> None:
        self._buffers.pop(channel, None)
        if not self._buffers and self._reader is not None:
            # Nobody receives: stop popping (a message popped from now on would have no
            # one to go to). Cancelling receive_single loses nothing: the message stays in
            # channels-redis' backup queue and is put back by the next receive.
            self._reader.cancel()
            self._reader = None

    async def _read(self, real_channel: str) -> None:
        try:
            while self._buffers:
                message_channel, message = await self.receive_single(real_channel)
                for name in (
                    message_channel if isinstance(message_channel, list) else [message_channel]
                ):
                    buffer = self._buffers.get(name)
                    if buffer is not None:
                        buffer.put_nowait(message)
        except Exception as error:  # not CancelledError: a stopped reader just stops
            logger.warning("realtime: the channel layer reader failed: %r", error)
            for buffer in self._buffers.values():
                buffer.put_nowait(_ReaderFailed(error))
