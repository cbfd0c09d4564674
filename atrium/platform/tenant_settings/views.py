"""``GET`` (owners and admins) and ``PATCH`` (owners) ``/api/v1/tenant/``: the settings the
tenant holds itself, changed through ``atrium.tenants.services`` (the Tenant row is in the
public schema, and routing, which carries them, is invalidated after commit). Its OpenAPI
documentation is in ``openapi.py``."""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from atrium.platform.accounts.models import Role
from atrium.platform.accounts.permissions import IsTenantAdmin
from atrium.platform.api.views import TenantGenericViewSet
from atrium.platform.audit.services import audit_record
from atrium.tenants import services as tenant_services
from atrium.tenants.context import current_tenant

from . import openapi
from .serializers import TenantSettingsSerializer, settings_of


class IsTenantOwner(BasePermission):
    message = "Only the tenant's owners may change its settings."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "role", None) == Role.OWNER


@openapi.tenant_settings_viewset
class TenantSettingsViewSet(TenantGenericViewSet):
    serializer_class = TenantSettingsSerializer
    write_serializer_class = TenantSettingsSerializer
    permissions = (IsTenantAdmin,)
    action_permissions = {"partial_update": (IsTenantOwner,)}
    pagination_class = None

    def retrieve(self, request):
        # Read from the row, not routing's copy: a change is seen at once by its author.
        return Response(settings_of(tenant_services.tenant_get(current_tenant().slug)))

    def partial_update(self, request):
        data = self.validated(partial=True)
        tenant, changes = tenant_services.tenant_settings_update(
            slug=current_tenant().slug,
            name=data.get("name"),
            require_mfa_for_admins=data.get("require_mfa_for_admins"),
            cors_origins=data.get("cors_allowed_origins"),
        )
        if changes:
            # The Tenant row is in the public schema: recorded in the tenant's own log after
            # the change committed there (a write in another schema is its own transaction).
            audit_record(
                "tenant.settings_changed",
                target_type="tenants.tenant",
                target_id=str(tenant.id),
                target_label=tenant.slug,
                changes=changes,
            )
        return Response(settings_of(tenant))
