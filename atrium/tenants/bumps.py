"""Version bumps that Redis missed, kept in this process and applied once it answers.

A version counter in Redis (the routing directory's, a response cache namespace's) tells
every process that its copy is stale. A bump made while Redis is away would be lost, and
the old copies served again once Redis is back; so the process keeps the keys whose bump
failed and bumps them before it next relies on the versions. This lasts only as long as
the process: each user of a version bounds what a bump lost with its process can cost
(the routing directory's max age, the response cache's TTL).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from django_redis import get_redis_connection

logger = logging.getLogger(__name__)


class MissedBumps:
    """The keys of one kind of version whose bump Redis did not take yet."""

    def __init__(self, name: str, bump: Callable[[redis.Redis, str], object]) -> None:
        self.name = name
        self._bump = bump  # applies one key's bump; raises redis.RedisError when it can't
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """True while a bump is kept (a cheap check, for the hot path)."""
        return bool(self._keys)

    def keep(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def replay(self) -> bool:
        """Apply the kept bumps; False while Redis still does not take some of them."""
        if not self._keys:
            return True
        with self._lock:
            keys = sorted(self._keys)
            try:
                client = get_redis_connection("default")
                for key in keys:
                    self._bump(client, key)
                    self._keys.discard(key)
            except redis.RedisError:
                return False
        logger.info("%s: applied %d missed version bump(s)", self.name, len(keys))
        return True
