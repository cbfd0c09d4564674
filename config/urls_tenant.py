"""URLs of every tenant host (``<slug>.<base domain>`` and custom domains)."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from atrium.platform.admin import tenant_admin_site
from atrium.platform.health import healthz, readyz


def tenant_home(request: HttpRequest) -> JsonResponse:
    tenant = request.tenant
    return JsonResponse({"tenant": tenant.slug, "name": tenant.name, "admin": "/admin/"})


urlpatterns = [
    path("", tenant_home, name="tenant-home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", tenant_admin_site.urls),
]
