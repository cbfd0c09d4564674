"""The bare path of the API benchmark: ``GET /bench/bare/users/me/`` without tenancy.

Same server, same middleware as the full path, except that ``BenchRoutingMiddleware`` (in
``TenantRoutingMiddleware``'s place) skips tenant routing for ``/bench/bare/`` and sets this
urlconf. The query goes to the alias ``bare``: Django's own backend with the tenant's schema as
``search_path`` from the start, like a single-tenant app. No JWT (the user is read by primary
key, the query the JWT makes), no throttling. A ``GenericViewSet`` action and the same
``UserSerializer``, so both paths go through the same DRF dispatch.
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
