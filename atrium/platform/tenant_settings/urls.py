"""Route of the tenant settings API (mounted at ``/api/v1/``)."""

from django.urls import path

from .views import TenantSettingsViewSet

urlpatterns = [
    path(
        "tenant/",
        TenantSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="tenant-settings",
    )
]
