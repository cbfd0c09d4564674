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
from atrium.platform.api.pagination import CachedCountPagination
from atrium.platform.api.views import (
    ServiceDestroyMixin,
    ServiceUpdateMixin,
    TenantGenericViewSet,
    TenantServiceViewSet,
)
from atrium.platform.cache import cached_api_response
from atrium.platform.jobs import services as job_services
from atrium.platform.jobs.serializers import JobSerializer

from . import openapi, selectors, services, tasks, transfer
from .permissions import MayChangeProduct
from .serializers import (
    PRODUCT_ROW_COLUMNS,
    CategorySerializer,
    CategoryWriteSerializer,
    ImportUploadSerializer,
    ProductSerializer,
    ProductWriteSerializer,
    ReviewSerializer,
    ReviewWriteSerializer,
    product_rows,
    product_rows_of_values,
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


# Detail routes take the UUID or the slug. (A comment, not a docstring: the schema would
# show a mixin's docstring as the description of every operation of the viewset.)
class IdOrSlugLookupMixin:
    lookup_value_regex = UUID_OR_SLUG

    def get_object(self):
        obj = lookup_by_id_or_slug(self.get_queryset(), self.kwargs["pk"])
        self.check_object_permissions(self.request, obj)
        return obj


@openapi.category_viewset
class CategoryViewSet(IdOrSlugLookupMixin, TenantServiceViewSet):
    serializer_class = CategorySerializer
    write_serializer_class = CategoryWriteSerializer
    permissions = (ReadOnly | IsTenantAdmin,)
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        return selectors.category_list()

    def create_object(self, data):
        return services.category_create(**data)

    def update_object(self, category, data):
        return services.category_update(category=category, **data)

    def delete_object(self, category):
        services.category_delete(category=category)


@openapi.product_viewset
class ProductViewSet(IdOrSlugLookupMixin, TenantServiceViewSet):
    serializer_class = ProductSerializer
    write_serializer_class = ProductWriteSerializer
    filterset_class = selectors.ProductFilter
    search_fields = ["name", "sku", "description"]
    ordering_fields = ["price", "created_at", "avg_rating", "review_count", "name"]
    ordering = ["-created_at"]
    # The list's count is cached with its pages; these parameters select its rows.
    pagination_class = CachedCountPagination
    cache_namespace = services.CACHE_NAMESPACE
    count_parameters = (*selectors.ProductFilter.base_filters, "q")
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

    def list(self, request, *args, **kwargs):
        def page() -> Response:
            products = self.filter_queryset(self.get_queryset())
            values = self.paginate_queryset(products.values_list(*PRODUCT_ROW_COLUMNS))
            return self.get_paginated_response(product_rows_of_values(values))

        return cached_api_response(request, services.CACHE_NAMESPACE, page)

    def retrieve(self, request, *args, **kwargs):
        return cached_api_response(
            request,
            services.CACHE_NAMESPACE,
            lambda: Response(product_rows([self.get_object()])[0]),
        )

    def create_object(self, data):
        return services.product_create(owner=self.request.user, **data)

    def update_object(self, product, data):
        return services.product_update(product=product, **data)

    def delete_object(self, product):
        services.product_delete(product=product)

    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        return self.rendered(services.product_restore(product=self.get_object()))

    @action(detail=False, methods=["get"], url_path="top-rated", filterset_class=None)
    def top_rated(self, request):
        page = self.paginate_queryset(selectors.product_top_rated())
        return self.get_paginated_response(product_rows(page))

    @action(detail=True, methods=["get", "post"], filterset_class=None, ordering_fields=[])
    def reviews(self, request, pk=None):
        product = lookup_by_id_or_slug(selectors.product_list(), pk)
        if request.method in SAFE_METHODS:
            page = self.paginate_queryset(selectors.review_list(product=product))
            return self.get_paginated_response(ReviewSerializer(page, many=True).data)
        data = self.validated(ReviewWriteSerializer)
        review = services.review_create(author=request.user, product=product, **data)
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


@openapi.review_viewset
class ReviewViewSet(
    mixins.RetrieveModelMixin, ServiceUpdateMixin, ServiceDestroyMixin, TenantGenericViewSet
):
    serializer_class = ReviewSerializer
    write_serializer_class = ReviewWriteSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9a-f-]{36}"
    action_permissions = {
        "partial_update": (IsTenantAdmin | IsObjectOwner,),
        "destroy": (IsTenantAdmin | IsObjectOwner,),
    }

    def get_queryset(self):
        return selectors.review_all()

    def update_object(self, review, data):
        return services.review_update(review=review, **data)

    def delete_object(self, review):
        services.review_delete(review=review)


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
        path = transfer.import_accept(upload=self.validated(ImportUploadSerializer)["file"])
        job = job_services.job_submit(
            kind="catalog.import",
            created_by=request.user,
            task=tasks.import_products,
            input_path=path,
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
