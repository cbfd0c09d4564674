"""Redis reads of a request made ahead, in the one ``MGET`` that routing sends anyway.

Routing asks Redis for the directory version on every request (``routing.py``). The keys
that the rest of the request will read for sure (the user of its token, its cached
response) are named by readers that the layers above register here, and asked for in the
same ``MGET``: one round trip instead of one per reader. A reader gets the request inside
the tenant's scope (so it builds its keys in the tenant's key space) and returns keys; it
never decides anything: the code that later uses a value still checks it as if it had read
it itself (``mget``), only earlier in the same request.

Values read ahead live for the request (a ContextVar, reset in ``finally``), and each is
used once: a second read of a key in the request (after a write of its own, say) goes to
Redis, as does a key nobody read ahead, or any read outside an HTTP request (a socket, a
task).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import redis
from django.http import HttpRequest

# Given the request (in its tenant's scope), the Redis keys it will read. Registered by the
# layers above (their AppConfig.ready); a reader that fails is a bug, not a degraded mode.
READERS: list[Callable[[HttpRequest], Iterable[str]]] = []

_values: ContextVar[dict[str, bytes | None] | None] = ContextVar("atrium_read_ahead", default=None)


def keys_for(request: HttpRequest) -> list[str]:
    """Every key the registered readers name for ``request``, once each, in order."""
    keys: dict[str, None] = {}
    for reader in READERS:
        keys.update(dict.fromkeys(reader(request)))
    return list(keys)


@contextmanager
def values_read_ahead(values: dict[str, bytes | None]) -> Iterator[None]:
    """Make ``values`` (key → value, None for a missing key) the current request's."""
    token = _values.set(values)
    try:
        yield
    finally:
        _values.reset(token)


def mget(client: redis.Redis, keys: Sequence[str]) -> list[bytes | None]:
    """``MGET keys``: the values read ahead for this request where there are (each used
    once), the others from Redis in one ``MGET`` (none when every key was read ahead).
    Raises ``redis.RedisError`` when Redis has to be asked and cannot be."""
    ahead = _values.get()
    if not ahead:
        return client.mget(keys)
    found = {key: ahead.pop(key) for key in keys if key in ahead}
    missing = [key for key in keys if key not in found]
    if missing:
        found.update(zip(missing, client.mget(missing), strict=True))
    return [found[key] for key in keys]
