"""Routes of the invitations API (mounted at ``/api/v1/``)."""

from rest_framework.routers import SimpleRouter

from .views import InvitationViewSet

router = SimpleRouter()
router.register("invitations", InvitationViewSet, basename="invitation")

urlpatterns = router.urls
