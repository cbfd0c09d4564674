"""OpenAPI endpoints and JSON error pages shared by the tenant and platform URL confs."""

import sys

from django.http import JsonResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView


def schema_urls(urlconf: str) -> list:
    """``/api/schema/``, ``/api/docs/`` (Swagger UI) and ``/api/redoc/`` for one URL conf;
    the UI assets are served locally (drf-spectacular-sidecar), so the docs work offline."""
    return [
        path("api/schema/", SpectacularAPIView.as_view(urlconf=urlconf), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    ]


def _error(status: int, code: str, detail: str) -> JsonResponse:
    kind = "server_error" if status >= 500 else "client_error"
    return JsonResponse(
        {"type": kind, "errors": [{"code": code, "detail": detail, "attr": None}]}, status=status
    )


def not_found(request, exception=None) -> JsonResponse:
    return _error(404, "not_found", "Not found.")


def server_error(request) -> JsonResponse:
    """Django's answer to an exception no view handled (a middleware's, e.g. the host
    lookup of routing): it is called inside the exception's handling, so the exception is
    still ``sys.exc_info()``; a database outage is a 503 there too, as in the API."""
    from .errors import DatabaseUnavailable, is_database_outage

    if is_database_outage(sys.exc_info()[1]):
        outage = DatabaseUnavailable()
        response = _error(outage.status_code, outage.default_code, str(outage.detail))
        response["Retry-After"] = str(outage.wait)
        return response
    return _error(500, "error", "A server error occurred.")


def bad_request(request, exception=None) -> JsonResponse:
    return _error(400, "bad_request", "Bad request.")


def permission_denied(request, exception=None) -> JsonResponse:
    return _error(403, "permission_denied", "You do not have permission to perform this action.")
