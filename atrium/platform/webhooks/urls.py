"""Routes of the webhooks API (mounted at ``/api/v1/webhooks/``)."""

from rest_framework.routers import SimpleRouter

from .views import WebhookViewSet

router = SimpleRouter()
router.register("", WebhookViewSet, basename="webhook")

urlpatterns = router.urls
