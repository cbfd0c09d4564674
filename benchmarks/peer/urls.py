from django.urls import include, path
from rest_framework.routers import DefaultRouter
from rest_framework_simplejwt.views import TokenObtainPairView

from benchmarks.peer.shop.views import MeView, ProductViewSet, healthz

router = DefaultRouter()
router.register("catalog/products", ProductViewSet, basename="product")

urlpatterns = [
    path("healthz", healthz),
    path("api/v1/auth/token/", TokenObtainPairView.as_view()),
    path("api/v1/users/me/", MeView.as_view()),
    path("api/v1/", include(router.urls)),
]
