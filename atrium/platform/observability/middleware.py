"""The request's id, log context, access log line, metrics and trace tags (the outermost
middleware, so that every answer, a refusal of routing included, is counted and carries
``X-Request-ID``).

An incoming ``X-Request-ID`` of at most 128 characters of ``[A-Za-z0-9._-]`` is kept (a
proxy or client that made one can follow it); any other value is replaced and a missing one
made. The id is answered in ``X-Request-ID``, is on every log record of the request, and
travels in the Celery messages the request sends (``celery.py``).
"""

from __future__ import annotations

import functools
import logging
import re
import time

from django.db import connection
from django.http import HttpRequest, HttpResponse

from . import metrics, tracing
from .context import LogContext, authenticated_user_id, bind, clean_request_id

access_logger = logging.getLogger("atrium.access")

RESPONSE_HEADER = "X-Request-ID"
# Methods outside this set are counted as "other": the label stays bounded.
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (a bounded label), not the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return metrics.UNROUTED
    if match.url_name == "unknown-url":
        return metrics.UNMATCHED
    return readable_route(match.route or metrics.UNMATCHED)


@functools.lru_cache(maxsize=1024)
def readable_route(route: str) -> str:
    """DRF's routers give regular expressions (``products/(?P<pk>[^/.]+)/$``): shown as
    Django's converters are (``products/<pk>/``)."""
    return _NAMED_GROUP.sub(r"<\1>", route).replace("^", "").removesuffix("$")


class ObservabilityMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = clean_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        # Set by ApiKeyAuthentication for a request made with an API key; None otherwise, so
        # code that asks "is this a key?" reads request.api_key_id on every request.
        request.api_key_id = None
        log_context = LogContext(
            request_id=request_id, method=request.method, path=request.path, request=request
        )
        request.log_context = log_context
        queries = 0

        def count_query(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        with bind(log_context), connection.execute_wrapper(count_query):
            response = self.get_response(request)
            self._note_tenant(request, log_context)
            tracing.annotate_current_span()
        response[RESPONSE_HEADER] = request_id
        seconds = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        route = route_of(request)
        metrics.observe_request(
            method=method,
            route=route,
            status=response.status_code,
            seconds=seconds,
            queries=queries,
        )
        log_context.user_id = authenticated_user_id(request)
        log_context.api_key_id = getattr(request, "api_key_id", None)
        duration_ms = round(seconds * 1000, 1)
        access_logger.info(
            "%s %s %s %sms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "tenant": log_context.tenant,
                "tenant_id": log_context.tenant_id,
                "request_id": request_id,
                "user_id": log_context.user_id,
                "api_key_id": log_context.api_key_id,
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "db_queries": queries,
            },
        )
        return response

    @staticmethod
    def _note_tenant(request: HttpRequest, log_context: LogContext) -> None:
        """The tenant routing chose (request.tenant), for the lines after its scope ended."""
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return
        slug = getattr(tenant, "slug", None)
        if slug is None:  # django-tenants' FakeTenant: the platform host
            log_context.tenant = "public"
        else:
            log_context.tenant, log_context.tenant_id = slug, str(tenant.pk)
