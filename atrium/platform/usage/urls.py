"""Route of the usage API (mounted at ``/api/v1/``)."""

from django.urls import path

from .views import UsageViewSet

urlpatterns = [path("usage/", UsageViewSet.as_view({"get": "retrieve"}), name="usage")]
