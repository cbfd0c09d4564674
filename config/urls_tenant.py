"""URLs of every tenant host (``<slug>.<base domain>`` and custom domains)."""

from django.urls import include, path
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from atrium.platform.accounts.throttling import limit_admin_login
from atrium.platform.admin import tenant_admin_site
from atrium.platform.api import urls as api_urls
from atrium.platform.events.views import AsyncAPIView
from atrium.platform.health import healthz, readyz

# The tenant's admin signs in under the same limits as the platform's admin and the API.
limit_admin_login(tenant_admin_site)


@extend_schema(
    tags=["tenant"],
    summary="Which tenant this host serves",
    description="Unauthenticated: the tenant's slug and name, and where its API lives.",
    responses={
        200: inline_serializer(
            "TenantHome",
            fields={
                "tenant": serializers.CharField(),
                "name": serializers.CharField(),
                "api": serializers.CharField(),
                "docs": serializers.CharField(),
            },
        )
    },
    examples=[
        OpenApiExample(
            "Acme",
            value={"tenant": "acme", "name": "Acme", "api": "/api/v1/", "docs": "/api/docs/"},
        )
    ],
    auth=[],
)
@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([])
def tenant_home(request):
    tenant = request.tenant
    return Response(
        {"tenant": tenant.slug, "name": tenant.name, "api": "/api/v1/", "docs": "/api/docs/"}
    )


api_v1 = [
    path("", include("atrium.platform.accounts.urls")),
    *api_urls.tenant_app_urls(),  # catalog/, and every other app of TENANT_APPS
    path("", include("atrium.platform.jobs.urls")),
    path("", include("atrium.platform.audit_api.urls")),
    path("", include("atrium.platform.usage.urls")),
    path("", include("atrium.platform.invitations.urls")),
]

urlpatterns = [
    path("", tenant_home, name="tenant-home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/auth/", include("atrium.platform.accounts.auth_urls")),
    path("api/v1/auth/invitations/", include("atrium.platform.invitations.auth_urls")),
    path("api/v1/", include(api_v1)),
    *api_urls.schema_urls("config.urls_tenant"),
    path("api/asyncapi/", AsyncAPIView.as_view(), name="asyncapi"),
    path("admin/", tenant_admin_site.urls),
    *api_urls.fallback_urls(),
]

handler400 = api_urls.bad_request
handler403 = api_urls.permission_denied
handler404 = api_urls.not_found
handler500 = api_urls.server_error
