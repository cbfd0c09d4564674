"""``Authorization: Api-Key atr_…``: a request made with an API key of the current tenant.

djangorestframework-api-key only offers permission classes (``HasAPIKey``), which leave
``request.user`` anonymous; Atrium's views and services need a principal with a role, so
this authentication class returns one (``ApiKeyPrincipal``: the creator, read afresh on
every request, acting with ``scopes.key_role``). The methods a key may use are checked here
too, for every view: outside its scopes a request is refused with 403 ``insufficient_scope``.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from atrium.platform.accounts.permissions import InsufficientScope
from atrium.tenants.context import current_tenant_or_none

from . import selectors, services
from .models import APIKey, ApiKeyPrincipal
from .scopes import ADMIN, key_role, scope_for_method

KEYWORD = "Api-Key"


def principal_for(api_key: APIKey) -> ApiKeyPrincipal:
    """The key's creator as the principal the key acts as (role capped by the scopes)."""
    principal = api_key.created_by
    creator_role = principal.role
    principal.__class__ = ApiKeyPrincipal
    principal.apply_role(key_role(creator_role=creator_role, scopes=api_key.scopes))
    principal.api_key = api_key
    principal.scope_withheld_admin = ADMIN not in api_key.scopes and creator_role != "member"
    return principal


class ApiKeyAuthentication(BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                f"Send the key as 'Authorization: {KEYWORD} atr_…'.", "bad_authorization_header"
            )
        tenant = current_tenant_or_none()
        if tenant is None:
            raise AuthenticationFailed(
                "API keys are only accepted on their tenant's own host.", "api_key_invalid"
            )
        api_key = selectors.api_key_for(key=parts[1].decode("latin-1"), tenant_id=tenant.id)
        if api_key is None:
            raise AuthenticationFailed(
                "This API key is not valid here: unknown, revoked or expired. Ask an admin "
                "of the tenant for a new one.",
                "api_key_invalid",
            )
        if not api_key.created_by.is_active:
            raise AuthenticationFailed(
                "The account that created this API key is deactivated; its keys no longer "
                "work. Ask an admin for a new key.",
                "user_inactive",
            )
        needed = scope_for_method(request.method)
        if needed not in api_key.scopes:
            raise InsufficientScope(
                f"This API key lacks the {needed!r} scope that {request.method} needs "
                f"(it has: {', '.join(api_key.scopes)})."
            )
        # On the HttpRequest: the log context and throttles read it there (and through
        # DRF's Request, which forwards unknown attributes to it).
        request._request.api_key_id = api_key.pk
        services.api_key_touch(api_key=api_key)
        return principal_for(api_key), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} atr_<prefix>_<secret>` (see /api/v1/api-keys/).",
        }
