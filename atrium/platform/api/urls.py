"""OpenAPI endpoints and JSON error pages shared by the tenant and platform URL confs."""

import sys
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer

from atrium.errors import NotFound, PermissionDenied, error_response

from .errors import BadRequest, infrastructure_error, malformed_request


class SchemaView(SpectacularAPIView):
    """The schema in YAML (default) or JSON (``?format=json``); its errors (a refused
    token, a throttled client) in JSON like every other error, never in YAML."""

    def finalize_response(self, request, response, *args, **kwargs):
        if getattr(response, "exception", False):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class RedocView(SpectacularRedocView):
    """ReDoc from this server's own assets only: a template without web fonts, and the
    sidecar's bundle without the one asset it takes from a CDN (``redoc_bundle``)."""

    template_name = "atrium/redoc.html"

    @staticmethod
    def _redoc_standalone() -> str:
        return reverse("redoc-bundle")


REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
# ReDoc's side menu always shows Redocly's logo, loaded from their CDN; without it the menu
# keeps its "API docs by Redocly" link text.
REDOC_REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _redoc_bundle() -> bytes:
    found = finders.find(REDOC_BUNDLE)
    if not found:
        raise ImproperlyConfigured(f"{REDOC_BUNDLE} not found: install drf-spectacular-sidecar")
    return Path(found).read_bytes().replace(REDOC_REMOTE_LOGO, b"")


def redoc_bundle(request) -> HttpResponse:
    response = HttpResponse(_redoc_bundle(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def schema_urls(urlconf: str) -> list:
    """``/api/schema/``, ``/api/docs/`` (Swagger UI) and ``/api/redoc/`` for one URL conf;
    the UI assets are served locally (drf-spectacular-sidecar), so the docs work offline."""
    return [
        path("api/schema/", SchemaView.as_view(urlconf=urlconf), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
        path("api/redoc/redoc.standalone.js", redoc_bundle, name="redoc-bundle"),
    ]


def tenant_app_urls() -> list:
    """The API of every tenant app (``TENANT_APPS``) whose app config names its
    ``api_prefix``: its ``urls`` module, mounted there (``catalog/``). Adding an app to
    ``TENANT_APPS`` mounts it; no URL conf names it."""
    return [
        path(config.api_prefix, include(f"{config.name}.urls"))
        for config in apps.get_app_configs()
        if config.name in settings.TENANT_APPS and getattr(config, "api_prefix", None)
    ]


@csrf_exempt  # it changes nothing; a POST to a wrong URL is a 404, not a CSRF failure
def unknown_url(request, unmatched: str = "") -> JsonResponse | HttpResponsePermanentRedirect:
    """The last URL pattern: an unknown URL is a JSON 404 in every setting (with ``DEBUG``
    on, Django's 404 handler would answer its HTML page instead). As Django's APPEND_SLASH
    would, a GET of a known URL without its trailing slash is redirected to it."""
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/", getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        if match is not None and match.func is not unknown_url:
            target = request.path + "/"
            if request.method in ("GET", "HEAD"):
                query = request.META.get("QUERY_STRING")
                return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
            return NotFound(f"Not found. Did you mean {target!r}?").to_response()
    return NotFound("Not found: no such URL on this host.").to_response()


def fallback_urls() -> list:
    """Put last: everything no other pattern matched (except the admin's own URLs, which
    answer their HTML pages) is a JSON 404."""
    return [re_path(r"^(?!admin/)(?P<unmatched>.*)$", unknown_url, name="unknown-url")]


def not_found(request, exception=None) -> JsonResponse:
    return NotFound().to_response()


def server_error(request) -> JsonResponse:
    """Django's answer to an exception no view handled (a middleware's, e.g. the host
    lookup of routing): it is called inside the exception's handling, so the exception is
    still ``sys.exc_info()``; a database outage or a schema mid-migration is a 503 there
    too, as in the API."""
    if infrastructure := infrastructure_error(sys.exc_info()[1]):
        return infrastructure.to_response()
    return error_response(500, "error", "A server error occurred.")


def bad_request(request, exception=None) -> JsonResponse:
    """Django's answer to a request it refused to read (SuspiciousOperation) outside DRF."""
    return (malformed_request(exception) or BadRequest()).to_response()


def permission_denied(request, exception=None) -> JsonResponse:
    return PermissionDenied().to_response()
