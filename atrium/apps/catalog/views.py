"""Catalog API (``/api/v1/catalog/…``): each action validates input, calls one service or
selector, and serializes the result. Product reads are cached per tenant."""

import uuid

from django.http import Http404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from atrium.platform.api.permissions import IsObjectOwner, IsTenantAdmin, ReadOnly
from atrium.platform.api.views import TenantGenericViewSet
from atrium.platform.cache import cached_api_response
from atrium.platform.jobs import services as job_services
from atrium.platform.jobs.serializers import JobSerializer

from . import selectors, services, tasks, transfer
from .permissions import MayChangeProduct
from .serializers import (
    CategorySerializer,
    CategoryWriteSerializer,
    ProductSerializer,
    ProductWriteSerializer,
    ReviewSerializer,
    ReviewWriteSerializer,
)

UUID_OR_SLUG = r"[0-9A-Za-z_-]+"
# The schema adds that the id is never one of the list routes (top-rated, …).
PRODUCT_ID = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description="UUID or slug", pattern=f"^{UUID_OR_SLUG}$"
)

CATEGORY_EXAMPLE = OpenApiExample(
    "Category",
    value={
        "id": "6f1f0b36-5d43-4c52-9d7b-2bd1f4f1b0a1",
        "name": "Garden",
        "slug": "garden",
        "parent": None,
        "description": "Everything outdoors.",
        "created_at": "2026-11-24T10:00:00Z",
        "updated_at": "2026-11-24T10:00:00Z",
    },
    response_only=True,
)
PRODUCT_EXAMPLE = OpenApiExample(
    "Product",
    value={
        "id": "0b7c3c8e-57a8-4a3f-a1de-3d1b9e2f6a10",
        "name": "Rocket skates",
        "slug": "rocket-skates",
        "sku": "ACME-RS-01",
        "description": "Fast.",
        "price": "199.00",
        "stock": 12,
        "status": "active",
        "category": {
            "id": "6f1f0b36-5d43-4c52-9d7b-2bd1f4f1b0a1",
            "name": "Garden",
            "slug": "garden",
        },
        "owner": {
            "id": "1b7e5d0e-3f43-4e55-9a49-8c4d7b1b6a11",
            "email": "w.e.coyote@acme.test",
            "name": "Wile",
        },
        "tags": ["fast", "rocket"],
        "review_count": 2,
        "avg_rating": "4.50",
        "created_at": "2026-11-24T10:00:00Z",
        "updated_at": "2026-11-24T10:00:00Z",
    },
    response_only=True,
)
PRODUCT_WRITE_EXAMPLE = OpenApiExample(
    "New product",
    value={
        "name": "Rocket skates",
        "sku": "ACME-RS-01",
        "price": "199.00",
        "stock": 12,
        "status": "active",
        "category": "6f1f0b36-5d43-4c52-9d7b-2bd1f4f1b0a1",
        "tags": ["fast", "rocket"],
    },
    request_only=True,
)
SKU_TAKEN = (
    "409 `sku_taken` when a live product has this SKU already (compared case-insensitively)."
)
SKU_TAKEN_EXAMPLE = OpenApiExample(
    "SKU taken",
    value={
        "type": "client_error",
        "errors": [
            {
                "code": "sku_taken",
                "detail": "A live product with this SKU exists already (SKUs are compared "
                "case-insensitively): choose another SKU, or change that product.",
                "attr": None,
            }
        ],
    },
    response_only=True,
    status_codes=["409"],
)
REVIEW_EXAMPLE = OpenApiExample(
    "Review",
    value={"rating": 5, "title": "Worth every penny", "body": "Caught the bird. Almost."},
    request_only=True,
)


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


@extend_schema_view(
    list=extend_schema(summary="List categories", examples=[CATEGORY_EXAMPLE]),
    retrieve=extend_schema(summary="Get a category (by id or slug)", examples=[CATEGORY_EXAMPLE]),
    create=extend_schema(
        summary="Create a category (owners and admins)",
        request=CategoryWriteSerializer,
        responses={201: CategorySerializer},
        examples=[
            OpenApiExample("Garden", value={"name": "Garden", "description": ""}, request_only=True)
        ],
    ),
    partial_update=extend_schema(
        summary="Change a category (owners and admins)",
        request=CategoryWriteSerializer,
        responses={200: CategorySerializer},
        examples=[OpenApiExample("Rename", value={"name": "Garden & Patio"}, request_only=True)],
    ),
    destroy=extend_schema(
        summary="Delete a category (soft; owners and admins)",
        description="Refused with 409 `category_in_use` while it has live products or children.",
        responses={204: None},
    ),
)
@extend_schema(tags=["catalog"])
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


@extend_schema_view(
    list=extend_schema(
        summary="List products",
        description="Filter, search (`q`: name, SKU, description) and order (`ordering`). "
        "Responses are cached per tenant and refreshed by any catalog write.",
        examples=[PRODUCT_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get a product (by id or slug)",
        parameters=[PRODUCT_ID],
        examples=[PRODUCT_EXAMPLE],
    ),
    create=extend_schema(
        summary="Create a product",
        description="Any member may create products; the owner is the requesting user. "
        + SKU_TAKEN,
        request=ProductWriteSerializer,
        responses={201: ProductSerializer},
        examples=[PRODUCT_WRITE_EXAMPLE, SKU_TAKEN_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change a product (its owner, or owners and admins)",
        description=SKU_TAKEN,
        parameters=[PRODUCT_ID],
        request=ProductWriteSerializer,
        responses={200: ProductSerializer},
        examples=[
            OpenApiExample("Reprice", value={"price": "149.00"}, request_only=True),
            SKU_TAKEN_EXAMPLE,
        ],
    ),
    destroy=extend_schema(
        summary="Delete a product (soft)",
        parameters=[PRODUCT_ID],
        responses={204: None},
    ),
)
@extend_schema(tags=["catalog"])
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

    @extend_schema(
        summary="Restore a deleted product (owners and admins)",
        description="409 when a live product has taken its SKU or slug since.",
        request=None,
        responses={200: ProductSerializer},
        examples=[PRODUCT_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        product = services.product_restore(product=self.get_object())
        return Response(ProductSerializer(product).data)

    @extend_schema(
        summary="Top-rated products per category",
        description="The best three active products of each category by average rating "
        "(ties by review count), ranked with a window function.",
        responses={200: ProductSerializer(many=True)},
        examples=[PRODUCT_EXAMPLE],
    )
    @action(detail=False, methods=["get"], url_path="top-rated", filterset_class=None)
    def top_rated(self, request):
        page = self.paginate_queryset(selectors.product_top_rated())
        return self.get_paginated_response(ProductSerializer(page, many=True).data)

    @extend_schema(
        methods=["GET"],
        summary="List a product's reviews",
        responses={200: ReviewSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Review a product",
        description="One live review per author and product; the author is the requesting user.",
        request=ReviewWriteSerializer,
        responses={201: ReviewSerializer},
        examples=[REVIEW_EXAMPLE],
    )
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


@extend_schema_view(
    retrieve=extend_schema(summary="Get a review"),
    partial_update=extend_schema(
        summary="Edit a review (its author, or owners and admins)",
        request=ReviewWriteSerializer,
        responses={200: ReviewSerializer},
        examples=[REVIEW_EXAMPLE],
    ),
    destroy=extend_schema(
        summary="Delete a review (soft; its author, or owners and admins)", responses={204: None}
    ),
)
@extend_schema(tags=["catalog"])
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


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV (UTF-8) with the columns "
        + ", ".join(transfer.COLUMNS)
        + ". A cell's leading `'` before `=`, `+`, `-`, `@`, tab, CR or another `'` is "
        "removed (the export adds it so that spreadsheets do not run formulas)."
    )


IMPORT_TOO_LARGE = OpenApiResponse(
    description="The request body is larger than the server reads "
    "(`request_too_large`: refused by its Content-Length before it is read, or cut off "
    "while a chunked body streams in), or the file larger than an import takes "
    "(`file_too_large`).",
    response=inline_serializer(
        "PayloadTooLargeResponse",
        fields={
            "type": serializers.CharField(help_text="`client_error`."),
            "errors": inline_serializer(
                "PayloadTooLargeError",
                fields={
                    "code": serializers.CharField(
                        help_text="`request_too_large` or `file_too_large`."
                    ),
                    "detail": serializers.CharField(help_text="The limit, and what to do."),
                    "attr": serializers.CharField(allow_null=True, help_text="Always null."),
                },
                many=True,
            ),
        },
    ),
)


@extend_schema(tags=["catalog"])
class CatalogTransferViewSet(TenantGenericViewSet):
    """Exports and imports answer 202 with a job; follow it at ``/api/v1/jobs/{id}/``."""

    serializer_class = JobSerializer

    @extend_schema(
        summary="Export the products as CSV (a job)",
        description="202 with the job; when it succeeds, `download_url` serves the file "
        "to this tenant only. A cell that a spreadsheet would run as a formula (starting "
        "with `=`, `+`, `-`, `@`, tab or CR) is written with a leading `'`, as is a value "
        "that starts with `'`; the import removes exactly that quote again.",
        request=None,
        responses={202: JobSerializer},
    )
    @action(detail=False, methods=["post"], url_path="exports")
    def export(self, request):
        job = job_services.job_submit(
            kind="catalog.export", created_by=request.user, task=tasks.export_products
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Import products from CSV (a job; all or nothing)",
        description="Rows are matched by SKU (case-insensitive): updated when found, created "
        "otherwise. Any member may import; each row follows the same permission rules as the "
        "product API: a row may create a product, but may change an existing one only if the "
        "importing user may `PATCH` it (its owner, or the tenant's owners and admins). A "
        "row the API would refuse is refused with the code `permission_denied`.\n\n"
        "All or nothing: a bad or refused row fails the whole import, and the catalog is "
        "left exactly as it was. The failed job's `error` is "
        '`{"code": "rows_refused", "message": …, "rows": [{"line", "field", "code", '
        '"message"}, …]}` (codes: `required`, `max_length`, `invalid`, `invalid_choice`, '
        "`does_not_exist`, `duplicate`, `permission_denied`, `sku_taken`).",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: JobSerializer, 413: IMPORT_TOO_LARGE},
    )
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
