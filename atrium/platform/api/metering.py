"""The metering hook: counts each API request of a tenant, and its user, for the day's usage
(``atrium.tenants.usage``).

One pipelined Redis round trip per request, after the response is made (the user is known
then: DRF authenticates in the view). Redis away: the request is not counted and is
answered as usual (metering fails open).
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.utils.functional import SimpleLazyObject, empty

from atrium.tenants.usage import record_request

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


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
        schema = getattr(getattr(request, "tenant", None), "schema_name", None)
        if (
            schema
            and schema != settings.PUBLIC_SCHEMA_NAME
            and request.path_info.startswith(API_PREFIX)
        ):
            try:
                record_request(schema, _user_id(request))
            except redis.RedisError as exc:
                logger.warning("metering: Redis unavailable, a request was not counted: %s", exc)
        return response
