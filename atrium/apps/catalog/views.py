"""Catalog API (``/api/v1/catalog/…``): each action validates input, calls one service or
selector, and serializes the result. Product reads are cached per tenant. Each viewset's
OpenAPI documentation is in ``openapi.py``."""

import uuid

from django.http import Http404
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from atrium.platform.accounts.permissions import IsObjectOwner, IsTenantAdmin, ReadOnly
from atrium.platform.api.views import TenantGenericViewSet
from atrium.platform.cache import cached_api_response
from atrium.platform.jobs import services as job_services
from atrium.platform.jobs.serializers import JobSerializer

from . import openapi, selectors, services, tasks, transfer
from .permissions import MayChangeProduct
from .serializers import (
    CategorySerializer,
    CategoryWriteSerializer,
    ImportUploadSerializer,
    ProductSerializer,
    ProductWriteSerializer,
    ReviewSerializer,
    ReviewWriteSerializer,
)

UUID_OR_SLUG = r"[0-9A-Za-z_-]+"


def lookup_by_id_or_slug(queryset, value: str):
    """Detail routes take the UUID or the slug."""
    try:
        filters = {"pk": uuid.UUID(value)}
    except ValueError:
        filters = {"slug": value}
    obj = queryset.filter(**filters).first()
    if obj is None:
        raise Http404
    return obj


@openapi.category_viewset
class CategoryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantGenericViewSet,
):
    serializer_class = CategorySerializer
    permissions = (ReadOnly | IsTenantAdmin,)
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
    lookup_value_regex = UUID_OR_SLUG
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.category_list()

    def get_object(self):
        category = lookup_by_id_or_slug(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, category)
        return category

    def create(self, request, *args, **kwargs):
        payload = CategoryWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        category = services.category_create(**payload.validated_data)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        payload = CategoryWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        category = services.category_update(category=self.get_object(), **payload.validated_data)
        return Response(CategorySerializer(category).data)

    def destroy(self, request, *args, **kwargs):
        services.category_delete(category=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@openapi.product_viewset
class ProductViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantGenericViewSet,
):
    serializer_class = ProductSerializer
    filterset_class = selectors.ProductFilter
    search_fields = ["name", "sku", "description"]
    ordering_fields = ["price", "created_at", "avg_rating", "review_count", "name"]
    ordering = ["-created_at"]
    lookup_value_regex = UUID_OR_SLUG
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Members create products and change their own; owners and admins change any. The
    # CSV import asks the same predicate of each row.
    action_permissions = {
        "partial_update": (MayChangeProduct,),
        "destroy": (MayChangeProduct,),
        "restore": (IsTenantAdmin,),
    }

    def get_queryset(self):
        if self.action == "restore":
            return selectors.product_deleted_list()
        return selectors.product_list()

    def get_object(self):
        product = lookup_by_id_or_slug(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, product)
        return product

    def list(self, request, *args, **kwargs):
        return cached_api_response(
            request, services.CACHE_NAMESPACE, lambda: super(ProductViewSet, self).list(request)
        )

    def retrieve(self, request, *args, **kwargs):
        return cached_api_response(
            request,
            services.CACHE_NAMESPACE,
            lambda: Response(ProductSerializer(self.get_object()).data),
        )

    def create(self, request, *args, **kwargs):
        payload = ProductWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        product = services.product_create(owner=request.user, **payload.validated_data)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        product = self.get_object()
        payload = ProductWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        product = services.product_update(product=product, **payload.validated_data)
        return Response(ProductSerializer(product).data)

    def destroy(self, request, *args, **kwargs):
        services.product_delete(product=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        product = services.product_restore(product=self.get_object())
        return Response(ProductSerializer(product).data)

    @action(detail=False, methods=["get"], url_path="top-rated", filterset_class=None)
    def top_rated(self, request):
        page = self.paginate_queryset(selectors.product_top_rated())
        return self.get_paginated_response(ProductSerializer(page, many=True).data)

    @action(detail=True, methods=["get", "post"], filterset_class=None, ordering_fields=[])
    def reviews(self, request, pk=None):
        product = lookup_by_id_or_slug(selectors.product_list(), pk)
        if request.method in SAFE_METHODS:
            page = self.paginate_queryset(selectors.review_list(product=product))
            return self.get_paginated_response(ReviewSerializer(page, many=True).data)
        payload = ReviewWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        review = services.review_create(
            author=request.user, product=product, **payload.validated_data
        )
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


@openapi.review_viewset
class ReviewViewSet(
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantGenericViewSet,
):
    serializer_class = ReviewSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9a-f-]{36}"
    action_permissions = {
        "partial_update": (IsTenantAdmin | IsObjectOwner,),
        "destroy": (IsTenantAdmin | IsObjectOwner,),
    }

    def get_queryset(self):
        return selectors.review_all()

    def partial_update(self, request, *args, **kwargs):
        review = self.get_object()
        payload = ReviewWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        review = services.review_update(review=review, **payload.validated_data)
        return Response(ReviewSerializer(review).data)

    def destroy(self, request, *args, **kwargs):
        services.review_delete(review=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@openapi.transfer_viewset
class CatalogTransferViewSet(TenantGenericViewSet):
    """Exports and imports answer 202 with a job; follow it at ``/api/v1/jobs/{id}/``."""

    serializer_class = JobSerializer

    @action(detail=False, methods=["post"], url_path="exports")
    def export(self, request):
        job = job_services.job_submit(
            kind="catalog.export", created_by=request.user, task=tasks.export_products
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=False, methods=["post"], url_path="imports", parser_classes=[MultiPartParser])
    def import_(self, request):
        payload = ImportUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        path = transfer.import_accept(upload=payload.validated_data["file"])
        job = job_services.job_submit(
            kind="catalog.import",
            created_by=request.user,
            task=tasks.import_products,
            input_path=path,
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
