"""Routes of the notes API (mounted at ``/api/v1/notes/``, the app config's ``api_prefix``)."""

from rest_framework.routers import SimpleRouter

from .views import NoteViewSet

router = SimpleRouter()
router.register("", NoteViewSet, basename="note")

urlpatterns = router.urls
