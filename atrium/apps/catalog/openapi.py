"""The catalog API's OpenAPI documentation: one decorator per viewset, with its summaries,
examples and response maps, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from atrium.platform.api.openapi import (
    action_schema,
    document,
    error_example,
    request_example,
    response_example,
)
from atrium.platform.jobs.serializers import JobSerializer

from .serializers import (
    CategorySerializer,
    CategoryWriteSerializer,
    ImportUploadSerializer,
    ProductSerializer,
    ProductWriteSerializer,
    ReviewSerializer,
    ReviewWriteSerializer,
)

# ------------------------------------------------------------------------ examples
CATEGORY_EXAMPLE = response_example(
    "Category",
    {
        "id": "6f1f0b36-5d43-4c52-9d7b-2bd1f4f1b0a1",
        "name": "Garden",
        "slug": "garden",
        "parent": None,
        "description": "Everything outdoors.",
        "created_at": "2026-11-24T10:00:00Z",
        "updated_at": "2026-11-24T10:00:00Z",
    },
)
PRODUCT_EXAMPLE = response_example(
    "Product",
    {
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
)
PRODUCT_WRITE_EXAMPLE = request_example(
    "New product",
    {
        "name": "Rocket skates",
        "sku": "ACME-RS-01",
        "price": "199.00",
        "stock": 12,
        "status": "active",
        "category": "6f1f0b36-5d43-4c52-9d7b-2bd1f4f1b0a1",
        "tags": ["fast", "rocket"],
    },
)
SKU_TAKEN = (
    "409 `sku_taken` when a live product has this SKU already (compared case-insensitively)."
)
SKU_TAKEN_EXAMPLE = error_example(
    "SKU taken",
    409,
    "sku_taken",
    "A live product with this SKU exists already (SKUs are compared "
    "case-insensitively): choose another SKU, or change that product.",
)
REVIEW_EXAMPLE = request_example(
    "Review", {"rating": 5, "title": "Worth every penny", "body": "Caught the bird. Almost."}
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


# ------------------------------------------------------------------------ viewsets
def category_viewset(viewset):
    return document(
        viewset,
        "catalog",
        list=extend_schema(summary="List categories", examples=[CATEGORY_EXAMPLE]),
        retrieve=extend_schema(
            summary="Get a category (by id or slug)", examples=[CATEGORY_EXAMPLE]
        ),
        create=action_schema(
            "Create a category (owners and admins)",
            CategoryWriteSerializer,
            CategorySerializer,
            status=201,
            examples=[request_example("Garden", {"name": "Garden", "description": ""})],
        ),
        partial_update=action_schema(
            "Change a category (owners and admins)",
            CategoryWriteSerializer,
            CategorySerializer,
            examples=[request_example("Rename", {"name": "Garden & Patio"})],
        ),
        destroy=extend_schema(
            summary="Delete a category (soft; owners and admins)",
            description="Refused with 409 `category_in_use` while it has live products or "
            "children.",
            responses={204: None},
        ),
    )


def product_viewset(viewset):
    # The schema adds that the id is never one of the list routes (top-rated, …).
    product_id = OpenApiParameter(
        "id",
        str,
        OpenApiParameter.PATH,
        description="UUID or slug",
        pattern=f"^{viewset.lookup_value_regex}$",
    )
    return document(
        viewset,
        "catalog",
        list=extend_schema(
            summary="List products",
            description="Filter, search (`q`: name, SKU, description) and order (`ordering`). "
            "Responses are cached per tenant and refreshed by any catalog write.",
            examples=[PRODUCT_EXAMPLE],
        ),
        retrieve=extend_schema(
            summary="Get a product (by id or slug)",
            parameters=[product_id],
            examples=[PRODUCT_EXAMPLE],
        ),
        create=action_schema(
            "Create a product",
            ProductWriteSerializer,
            ProductSerializer,
            status=201,
            description="Any member may create products; the owner is the requesting user. "
            + SKU_TAKEN,
            examples=[PRODUCT_WRITE_EXAMPLE, SKU_TAKEN_EXAMPLE],
        ),
        partial_update=action_schema(
            "Change a product (its owner, or owners and admins)",
            ProductWriteSerializer,
            ProductSerializer,
            description=SKU_TAKEN,
            parameters=[product_id],
            examples=[request_example("Reprice", {"price": "149.00"}), SKU_TAKEN_EXAMPLE],
        ),
        destroy=extend_schema(
            summary="Delete a product (soft)",
            parameters=[product_id],
            responses={204: None},
        ),
        restore=action_schema(
            "Restore a deleted product (owners and admins)",
            None,
            ProductSerializer,
            description="409 when a live product has taken its SKU or slug since.",
            examples=[PRODUCT_EXAMPLE],
        ),
        top_rated=extend_schema(
            summary="Top-rated products per category",
            description="The best three active products of each category by average rating "
            "(ties by review count), ranked with a window function.",
            responses={200: ProductSerializer(many=True)},
            examples=[PRODUCT_EXAMPLE],
        ),
        reviews=[
            action_schema(
                "Review a product",
                ReviewWriteSerializer,
                ReviewSerializer,
                status=201,
                methods=["POST"],
                description="One live review per author and product; the author is the "
                "requesting user.",
                examples=[REVIEW_EXAMPLE],
            ),
            extend_schema(
                methods=["GET"],
                summary="List a product's reviews",
                responses={200: ReviewSerializer(many=True)},
            ),
        ],
    )


def review_viewset(viewset):
    return document(
        viewset,
        "catalog",
        retrieve=extend_schema(summary="Get a review"),
        partial_update=action_schema(
            "Edit a review (its author, or owners and admins)",
            ReviewWriteSerializer,
            ReviewSerializer,
            examples=[REVIEW_EXAMPLE],
        ),
        destroy=extend_schema(
            summary="Delete a review (soft; its author, or owners and admins)",
            responses={204: None},
        ),
    )


def transfer_viewset(viewset):
    return document(
        viewset,
        "catalog",
        export=action_schema(
            "Export the products as CSV (a job)",
            None,
            JobSerializer,
            status=202,
            description="202 with the job; when it succeeds, `download_url` serves the file "
            "to this tenant only. A cell that a spreadsheet would run as a formula (starting "
            "with `=`, `+`, `-`, `@`, tab or CR) is written with a leading `'`, as is a value "
            "that starts with `'`; the import removes exactly that quote again.",
        ),
        import_=extend_schema(
            summary="Import products from CSV (a job; all or nothing)",
            description="Rows are matched by SKU (case-insensitive): updated when found, "
            "created otherwise. Any member may import; each row follows the same permission "
            "rules as the product API: a row may create a product, but may change an existing "
            "one only if the importing user may `PATCH` it (its owner, or the tenant's owners "
            "and admins). A row the API would refuse is refused with the code "
            "`permission_denied`.\n\n"
            "All or nothing: a bad or refused row fails the whole import, and the catalog is "
            "left exactly as it was. The failed job's `error` is "
            '`{"code": "rows_refused", "message": …, "rows": [{"line", "field", "code", '
            '"message"}, …]}` (codes: `required`, `max_length`, `invalid`, `invalid_choice`, '
            "`does_not_exist`, `duplicate`, `permission_denied`, `sku_taken`).",
            request={"multipart/form-data": ImportUploadSerializer},
            responses={202: JobSerializer, 413: IMPORT_TOO_LARGE},
        ),
    )
