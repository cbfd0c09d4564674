"""The API keys API's OpenAPI documentation, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import extend_schema

from atrium.platform.api.openapi import document, error_example, request_example, response_example

from .scopes import SCOPES
from .serializers import APIKeyCreatedSerializer, APIKeyCreateSerializer

KEY = {
    "id": "6b1f0c8e-2f1d-4c55-9d1e-3c7f5a0b9e21",
    "name": "CI exporter",
    "prefix": "Xq3vB7kd",
    "scopes": ["read"],
    "created_by": "0f8e2a4c-8c1b-4f7e-9a53-2d3c1b0a9f88",
    "created_at": "2026-12-07T10:00:00Z",
    "last_used_at": None,
    "expires_at": None,
}
SCOPE_TABLE = "\n".join(f"- `{name}`: {text}" for name, text in SCOPES.items())


def api_key_viewset(viewset):
    return document(
        viewset,
        "api-keys",
        list=extend_schema(
            summary="List the tenant's API keys",
            description="Keys not revoked (expired ones included), newest first; never the "
            "secret. Owners and admins, signed in as themselves.",
        ),
        retrieve=extend_schema(summary="Read one API key"),
        create=extend_schema(
            summary="Create an API key (shown once)",
            description="Answers the full key in `key`, once: `atr_<prefix>_<secret>`. Use it "
            "as `Authorization: Api-Key atr_…`. A key acts as its creator with a role capped "
            "by its scopes, never above the creator's current role; it stops working when its "
            "creator is deactivated. Scopes:\n\n" + SCOPE_TABLE,
            request=APIKeyCreateSerializer,
            responses={201: APIKeyCreatedSerializer},
            examples=[
                request_example("Read-only key", {"name": "CI exporter", "scopes": ["read"]}),
                response_example("Created", KEY | {"key": "atr_Xq3vB7kd_" + "s" * 32}),
                error_example(
                    "Unknown scope", 400, "invalid_choice", '"root" is not a valid choice.'
                ),
            ],
        ),
        destroy=extend_schema(
            summary="Revoke an API key",
            description="The key stops working at once (every request reads it).",
        ),
    )
