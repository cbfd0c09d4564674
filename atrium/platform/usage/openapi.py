"""The OpenAPI documentation of the usage API, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import OpenApiExample, extend_schema

from .serializers import UsageSerializer

USAGE_EXAMPLE = OpenApiExample(
    "A tenant on the free plan",
    value={
        "plan": "free",
        "period": "2026-12-07",
        "api_requests": 1840,
        "active_users": 7,
        "seats": 9,
        "products": 312,
        "storage_bytes": 9_830_400,
        "quotas": {"seats": 25, "products": 1000, "storage_bytes": 1_073_741_824},
    },
    response_only=True,
)

usage = extend_schema(
    tags=["usage"],
    summary="The tenant's usage and quotas (owners and admins)",
    description="Today's (UTC) API requests and distinct active users, metered as they "
    "happen, the seats, products and storage in use now, and the quotas of the tenant's "
    "plan (null: no quota). Creating a user or a product past its quota answers 403 "
    "`quota_exceeded` with the quota's `resource`, `limit` and `usage`.",
    responses={200: UsageSerializer},
    examples=[USAGE_EXAMPLE],
)
