"""Routes of person data (mounted at ``/api/v1/users/``, beside the users API)."""

from rest_framework.routers import SimpleRouter

from .views import PersonDataViewSet

router = SimpleRouter()
router.register("", PersonDataViewSet, basename="person-data")

urlpatterns = router.urls
