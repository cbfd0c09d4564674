"""Routes of the API keys API (mounted at ``/api/v1/api-keys/``)."""

from rest_framework.routers import SimpleRouter

from .views import APIKeyViewSet

router = SimpleRouter()
router.register("", APIKeyViewSet, basename="api-key")

urlpatterns = router.urls
