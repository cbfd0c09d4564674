"""Versioned response caching in the tenant's key space.

A namespace (``"catalog"``) has a version number in the cache; cached responses are keyed
by namespace, version and the full request path with its query string. A write bumps the
version after commit, so the next read misses and every older entry is simply never read
again (they expire on their own). Keys go through the cache's KEY_FUNCTION, so they live
under ``t:<schema>:cache:…`` and one tenant can never read another's entries.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.cache import cache

from atrium.tenants.context import on_commit

logger = logging.getLogger(__name__)

RESPONSE_TTL = 300


def _version_key(namespace: str) -> str:
    return f"ver:{namespace}"


def namespace_version(namespace: str) -> int:
    version = cache.get(_version_key(namespace))
    if version is None:
        # add() only sets a missing key, so concurrent first readers agree on one value.
        cache.add(_version_key(namespace), 1, timeout=None)
        version = cache.get(_version_key(namespace)) or 1
    return int(version)


def response_key(namespace: str, full_path: str) -> str:
    digest = hashlib.sha256(full_path.encode()).hexdigest()[:32]
    return f"resp:{namespace}:v{namespace_version(namespace)}:{digest}"


def invalidate_namespace(namespace: str) -> None:
    """Make every cached response of ``namespace`` stale, once the transaction commits."""

    def bump() -> None:
        try:
            cache.incr(_version_key(namespace))
        except ValueError:  # never read yet: nothing is cached under any version
            cache.add(_version_key(namespace), 2, timeout=None)

    on_commit(bump)


def cached_api_response(request, namespace: str, produce):
    """Serve a GET from the cache of ``namespace``, or ``produce()`` it and keep a 200.

    Only the response data and status are cached, so per-request headers (rate limits)
    stay live; ``X-Cache`` says whether the cache answered.
    """
    from rest_framework.response import Response

    key = response_key(namespace, request.get_full_path())
    cached = cache.get(key)
    if cached is not None:
        response = Response(cached)
        response["X-Cache"] = "hit"
        return response
    response = produce()
    if response.status_code == 200:
        cache.set(key, response.data, timeout=RESPONSE_TTL)
    response["X-Cache"] = "miss"
    return response
