"""Versioned response caching in the tenant's key space.

A namespace (``"catalog"``) has a version number in the cache; a cached response is kept
under the namespace and the request's absolute URL (scheme, host and port included, because
a body may embed links built from them, a page's ``next`` and ``previous``, and one tenant
answers on several hosts: a page cached through ``acme.localhost:8000`` is never served,
links and all, to ``shop.acme.example``), together with the version it was produced at.
It is served only while that is still the namespace's version: a write bumps the version
after commit, so the next read misses and every older entry is simply never served again
(each is replaced by the next miss, or expires on its own). Keys go through the cache's
KEY_FUNCTION, so they live under ``t:<schema>:cache:…`` and one tenant can never read
another's entries. As the key does not depend on the version, a request reads both in one
``MGET``, and on HTTP in the one that routing sends (``atrium.tenants.readahead``).

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

import functools
import hashlib
import json
import logging

import redis
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from rest_framework.renderers import JSONRenderer

from atrium.conf import atrium_settings
from atrium.tenants import readahead
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
    return f"resp:{namespace}:{digest}"


def _response_keys(namespace: str, url: str) -> list[str]:
    """The full Redis keys (KEY_FUNCTION applied) of the version and the response."""
    return [cache.make_key(_version_key(namespace)), cache.make_key(response_key(namespace, url))]


def _cached(namespace: str, url: str) -> tuple[int | None, object | None]:
    """(the namespace's version, what is cached for ``url`` at that version), one
    ``MGET``; (None, None) when Redis cannot be asked."""
    try:
        raw_version, raw = readahead.mget(cache.client.get_client(), _response_keys(namespace, url))
    except redis.RedisError:
        return None, None
    if raw_version is None:
        return namespace_version(namespace), None
    version = int(cache.client.decode(raw_version))
    entry = cache.client.decode(raw) if raw is not None else None
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
        return version, entry[1]
    return version, None


def read_ahead_keys(request: HttpRequest) -> list[str]:
    """The read-ahead reader (``atrium.tenants.readahead``): the version and response
    keys of a GET of a view that declares a ``cache_namespace``."""
    if request.method != "GET":
        return []
    namespace = _namespace_of(getattr(request, "urlconf", None), request.path_info)
    if not namespace:
        return []
    return _response_keys(namespace, request.build_absolute_uri())


@functools.lru_cache(maxsize=1024)
def _namespace_of(urlconf: str | None, path: str) -> str | None:
    """The ``cache_namespace`` of the view that serves ``path`` (the URL confs are fixed:
    resolving the same path again, which costs as much as a Redis round trip, is saved)."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    return getattr(getattr(match.func, "cls", None), "cache_namespace", None)


# Where cached_api_response leaves the namespace version it read, on the HttpRequest.
_VERSIONS = "_atrium_cache_versions"


def cached_count(request, namespace: str, scope: str, count) -> int:
    """``count()`` of a list, kept under the namespace version that ``cached_api_response``
    read for this request (a write bumps it, so the count is as fresh as a cached page):
    pages 2, 3, … and other page sizes and orderings of one filter count once. ``scope``
    names the filter (the query parameters that select rows). Outside such a request, or
    while it bypasses the cache, ``count()`` runs every time."""
    version = getattr(getattr(request, "_request", request), _VERSIONS, {}).get(namespace)
    if version is None:
        return count()
    digest = hashlib.sha256(scope.encode()).hexdigest()[:32]
    key = f"count:{namespace}:v{version}:{digest}"
    value = cache.get(key)
    if value is None:
        value = count()
        cache.set(key, value, timeout=atrium_settings.RESPONSE_CACHE_TTL)
    return value


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

    Only the rendered JSON body of a 200 is cached, so per-request headers (rate limits)
    stay live and a hit sends the stored bytes as they are (no decoding and re-rendering of
    the data); ``X-Cache`` says whether the cache answered (``hit``, ``miss``, or ``bypass``
    while version bumps missed during a Redis outage are not applied yet). A request that
    asks for another rendering (``Accept: application/json; indent=2``) is served from the
    same entry, rendered its own way, and stores nothing.
    """
    from rest_framework.response import Response

    if not missed_bumps.replay():  # entries from before an outage may be stale
        response = produce()
        response["X-Cache"] = "bypass"
        return response
    # The absolute URL, not the path: links in the body carry the request's scheme and host.
    url = request.build_absolute_uri()
    version, cached = _cached(namespace, url)
    plain = _plain_json(request)
    if isinstance(cached, bytes):
        response = (
            HttpResponse(cached, content_type=JSONRenderer.media_type)
            if plain
            else Response(json.loads(cached))
        )
        response["X-Cache"] = "hit"
        return response
    # cached_count reads the version this request read (none when Redis did not answer:
    # counts are then not cached either).
    versions = request._request.__dict__.setdefault(_VERSIONS, {})
    if version is None:
        versions.pop(namespace, None)
    else:
        versions[namespace] = version
    response = produce()
    if response.status_code == 200 and version is not None and plain:
        body = JSONRenderer().render(response.data, JSONRenderer.media_type)
        cache.set(
            response_key(namespace, url),
            (version, body),
            timeout=atrium_settings.RESPONSE_CACHE_TTL,
        )
        rendered = HttpResponse(body, content_type=JSONRenderer.media_type)
        for header, value in response.items():
            if header.lower() != "content-type":
                rendered[header] = value
        response = rendered
    response["X-Cache"] = "miss"
    return response


def _plain_json(request) -> bool:
    """Whether the request takes DRF's plain JSON rendering (the form the cache keeps)."""
    return (
        type(getattr(request, "accepted_renderer", None)) is JSONRenderer
        and request.accepted_media_type == JSONRenderer.media_type
    )
