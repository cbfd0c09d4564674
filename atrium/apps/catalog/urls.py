"""Routes of the catalog API (mounted at ``/api/v1/catalog/``)."""

from rest_framework.routers import SimpleRouter

from .views import CatalogTransferViewSet, CategoryViewSet, ProductViewSet, ReviewViewSet

router = SimpleRouter()
router.register("categories", CategoryViewSet, basename="category")
router.register("products", ProductViewSet, basename="product")
router.register("reviews", ReviewViewSet, basename="review")
router.register("", CatalogTransferViewSet, basename="catalog-transfer")

urlpatterns = router.urls
