"""The metering hook: counts each API request of a tenant, and its user, for the day's usage
(``atrium.tenants.usage``).

Its commands go with the throttles' round trip when the view throttles (``metered_with``:
the user is known by then), else in a pipelined round trip of their own after the response
(DRF authenticates in the view). Redis away: the request is not counted and is answered as
usual (metering fails open).
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.utils.functional import SimpleLazyObject, empty

from atrium.tenants.usage import queue_request, record_request

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
# Set on the HttpRequest once its commands are queued on another round trip.
_COUNTED = "_atrium_metered"


def _metered_schema(request) -> str | None:
    """The tenant schema whose usage ``request`` counts in, if any."""
    schema = getattr(getattr(request, "tenant", None), "schema_name", None)
    if (
        schema
        and schema != settings.PUBLIC_SCHEMA_NAME
        and request.path_info.startswith(API_PREFIX)
    ):
        return schema
    return None


def metered_with(request):
    """A callable that queues ``request``'s metering commands on a pipeline (the throttles',
    ``atrium.platform.redis.rate_limit_many(also=…)``) and marks the request counted, so
    the middleware does not count it again; None when it is not to be counted here."""
    request = getattr(request, "_request", request)  # DRF's wraps Django's
    schema = _metered_schema(request)
    if schema is None or getattr(request, _COUNTED, False):
        return None

    def queue(pipe) -> None:
        setattr(request, _COUNTED, True)
        queue_request(pipe, schema, _user_id(request))

    return queue


def _user_id(request) -> object | None:
    """The authenticated user's id, without authenticating anyone: DRF puts the user it
    authenticated on the request; the session's lazy user is read only if something read
    it already."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


class MeteringMiddleware:
    """Counts API requests on tenant hosts (after routing, in the tenant's scope)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        schema = _metered_schema(request)
        if schema is not None and not getattr(request, _COUNTED, False):
            try:
                record_request(schema, _user_id(request))
            except redis.RedisError as exc:
                logger.warning("metering: Redis unavailable, a request was not counted: %s", exc)
        return response
