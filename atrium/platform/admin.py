"""The tenant admin site: served at ``<tenant host>/admin/`` to that tenant's staff users.

The platform admin (``<base host>/admin/``) is Django's default ``admin.site``; keeping
two sites means a tenant admin can never see the Tenant and Domain tables, which live in
the public schema only.
"""

from django.contrib.admin import AdminSite


class TenantAdminSite(AdminSite):
    site_header = "Atrium"
    site_title = "Atrium tenant admin"
    index_title = "Your organisation"

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = f"{tenant.name} · Atrium"
        return context


tenant_admin_site = TenantAdminSite(name="tenant_admin")


class TenantAdminPermissions:
    """ModelAdmin permissions by tenant role: owners and admins manage, nobody hard-deletes
    (rows are deactivated or soft-deleted through the services)."""

    @staticmethod
    def _manages(request) -> bool:
        return getattr(request.user, "is_tenant_admin", False)

    def has_module_permission(self, request) -> bool:
        return self._manages(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._manages(request)

    def has_add_permission(self, request, *args) -> bool:
        return self._manages(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._manages(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
