"""URLs of the platform host (``<base domain>``): health and the operators' admin."""

from django.contrib import admin
from django.urls import path

from atrium.platform.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
]
