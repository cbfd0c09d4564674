"""Versioned response caching in the tenant's key space.

A namespace (``"catalog"``) has a version number in the cache; cached responses are keyed
by namespace, version and the request's absolute URL: scheme, host and port included, because
a body may embed links built from them (a page's ``next`` and ``previous``), and one tenant
answers on several hosts. A page cached through ``acme.localhost:8000`` is therefore never
served, links and all, to ``shop.acme.example``. A write bumps the
version after commit, so the next read misses and every older entry is simply never read
again (they expire on their own). Keys go through the cache's KEY_FUNCTION, so they live
under ``t:<schema>:cache:…`` and one tenant can never read another's entries.

Redis away when a write commits: the bump is lost, and the entries cached before the outage
would be served again once Redis is back. So a process keeps the bumps Redis missed and
applies them before it next uses the cache or bumps a version again; until they are
applied, it serves reads without the cache. That keeps them only as long as the process
lives: one that dies before Redis returns (or a worker that never reads the cache and
writes nothing more) takes its missed bumps along. The bound that holds whatever happens
is the entries' own TTL: every response is cached for ``ATRIUM_RESPONSE_CACHE_TTL`` seconds
(60 by default), so a missed invalidation leaves a response stale for at most that long
after the write (plus the time of one request that read the database before the write
committed and stored its answer after).
"""

from __future__ import annotations

import hashlib
import logging

import redis
from django.core.cache import cache

from atrium.conf import atrium_settings
from atrium.tenants.bumps import MissedBumps
from atrium.tenants.context import on_commit

logger = logging.getLogger(__name__)


def _version_key(namespace: str) -> str:
    return f"ver:{namespace}"


def _bump(client: redis.Redis, key: str) -> None:
    # INCR creates a missing key at 1, the first version: skip past it.
    if client.incr(key) == 1:
        client.incr(key)


# Full Redis keys of versions whose bump Redis did not take (see the module docstring).
missed_bumps = MissedBumps("cache", _bump)


def namespace_version(namespace: str) -> int:
    version = cache.get(_version_key(namespace))
    if version is None:
        # add() only sets a missing key, so concurrent first readers agree on one value.
        cache.add(_version_key(namespace), 1, timeout=None)
        version = cache.get(_version_key(namespace)) or 1
    return int(version)


def response_key(namespace: str, url: str) -> str:
    digest = hashlib.sha256(url.encode()).hexdigest()[:32]
    return f"resp:{namespace}:v{namespace_version(namespace)}:{digest}"


def invalidate_namespace(namespace: str) -> None:
    """Make every cached response of ``namespace`` stale, once the transaction commits."""

    def bump() -> None:
        key = _version_key(namespace)
        try:
            bumped = cache.incr(key)  # None: the cache ignored a Redis error
        except ValueError:  # never read yet: nothing is cached under any version
            bumped = cache.add(key, 2, timeout=None)
        if bumped is None:
            logger.warning("cache: Redis unavailable, the %s version bump is kept", namespace)
            missed_bumps.keep(cache.make_key(key))
        else:  # Redis answers: a process that only writes (a worker) catches up here
            missed_bumps.replay()

    on_commit(bump)


def cached_api_response(request, namespace: str, produce):
    """Serve a GET from the cache of ``namespace``, or ``produce()`` it and keep a 200.

    Only the response data and status are cached, so per-request headers (rate limits)
    stay live; ``X-Cache`` says whether the cache answered (``hit``, ``miss``, or ``bypass``
    while version bumps missed during a Redis outage are not applied yet).
    """
    from rest_framework.response import Response

    if not missed_bumps.replay():  # entries from before an outage may be stale
        response = produce()
        response["X-Cache"] = "bypass"
        return response
    # The absolute URL, not the path: links in the body carry the request's scheme and host.
    key = response_key(namespace, request.build_absolute_uri())
    cached = cache.get(key)
    if cached is not None:
        response = Response(cached)
        response["X-Cache"] = "hit"
        return response
    response = produce()
    if response.status_code == 200:
        cache.set(key, response.data, timeout=atrium_settings.RESPONSE_CACHE_TTL)
    response["X-Cache"] = "miss"
    return response
