"""The OpenAPI documentation of the tenant settings API."""

from drf_spectacular.utils import extend_schema

from atrium.platform.api.openapi import action_schema, document, request_example, response_example

from .serializers import TenantSettingsSerializer

SETTINGS_EXAMPLE = response_example(
    "Acme's settings",
    {
        "slug": "acme",
        "name": "Acme",
        "require_mfa_for_admins": True,
        "cors_allowed_origins": ["https://app.acme.example"],
    },
)


def tenant_settings_viewset(viewset):
    return document(
        viewset,
        "tenant",
        retrieve=extend_schema(
            summary="The organisation's settings (owners and admins)",
            responses={200: TenantSettingsSerializer},
            examples=[SETTINGS_EXAMPLE],
        ),
        partial_update=action_schema(
            "Change the organisation's settings (owners)",
            TenantSettingsSerializer,
            TenantSettingsSerializer,
            description="Send the fields to change. `cors_allowed_origins` replaces the list "
            "(each origin as scheme://host[:port], no path or wildcard: 400 `origin_invalid`). "
            "With `require_mfa_for_admins` on, owners and admins without MFA get 403 "
            "`mfa_enrolment_required` on everything but MFA enrolment and `users/me/`. "
            "Every process applies a change on its next request (at most "
            "ATRIUM_ROUTING_MAX_AGE seconds when Redis was away).",
            examples=[
                request_example("Require MFA", {"require_mfa_for_admins": True}),
                SETTINGS_EXAMPLE,
            ],
        ),
    )
