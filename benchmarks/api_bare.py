"""The bare path of the API benchmark: ``GET /users/me/`` without tenancy, JWT or throttling.

Served by the same server process, through the same middleware as the full path
(``/api/v1/users/me/``), with four things left out:

* **Tenant routing.** ``BenchRoutingMiddleware`` stands where ``TenantRoutingMiddleware``
  stands in ``MIDDLEWARE`` and passes every request to it, except those under
  ``/bench/bare/``: no ``Host`` lookup (Redis), no ``tenant_scope`` (ContextVar, schema
  switch, schema restore).
* **django-tenants' database backend.** The query goes to the database alias ``bare``
  (``benchmarks/settings_api.py``): the same database through Django's own PostgreSQL
  backend, connected with the tenant's schema as its ``search_path``, like a single-tenant
  application. The full path's backend sends ``SET search_path`` on each new connection.
* **JWT authentication** (``authentication_classes = []``, ``AllowAny``): the user is read
  by primary key, with the query ``token_user`` makes for the full path.
* **Throttling** (``throttle_classes = []``): no Redis script, no ``RateLimit-*`` headers.

The view is a ``GenericViewSet`` action, like ``UserViewSet.me``, so that both paths go
through the same DRF dispatch (``ViewSetMixin.as_view``, ``initialize_request``), and it
answers with the same ``UserSerializer``. The urlconf (this module) is set on the request
by the middleware, so the full path resolves against the unchanged ``config.urls_tenant``.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from rest_framework import viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from atrium.platform.accounts.models import User
from atrium.platform.accounts.serializers import UserSerializer
from atrium.platform.api import urls as api_urls
from atrium.tenants.routing import TenantRoutingMiddleware

BARE_PREFIX = "/bench/bare/"
BARE_URLCONF = __name__
BARE_DATABASE = "bare"


class BareUserViewSet(viewsets.GenericViewSet):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def me(self, request):
        user = User.objects.using(BARE_DATABASE).get(pk=settings.ATRIUM_BENCH_USER_ID)
        return Response(UserSerializer(user).data)


class BenchRoutingMiddleware:
    """``TenantRoutingMiddleware`` for every path but ``/bench/bare/…``, which skips it."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.routed = TenantRoutingMiddleware(get_response)

    def __call__(self, request):
        if not request.path_info.startswith(BARE_PREFIX):
            return self.routed(request)
        request.urlconf = BARE_URLCONF
        return self.get_response(request)


urlpatterns = [
    path("bench/bare/users/me/", BareUserViewSet.as_view({"get": "me"}), name="bench-bare-me"),
]

handler400 = api_urls.bad_request
handler403 = api_urls.permission_denied
handler404 = api_urls.not_found
handler500 = api_urls.server_error
