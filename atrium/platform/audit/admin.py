"""The audit log in the tenant admin: read-only, for the tenant's owners and admins."""

from django.contrib import admin

from atrium.platform.admin import TenantAdminPermissions, tenant_admin_site

from .actions import ACTIONS
from .models import AuditEvent


class ActionFilter(admin.SimpleListFilter):
    """The published actions (Django's own filter would scan the log for distinct values)."""

    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(name, name) for name in ACTIONS]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent, site=tenant_admin_site)
class AuditEventAdmin(TenantAdminPermissions, admin.ModelAdmin):
    list_display = ["at", "action", "actor_label", "target_type", "target_label", "ip"]
    list_filter = [ActionFilter, "actor_type"]
    search_fields = ["actor_label", "target_label", "target_id", "request_id"]
    date_hierarchy = None  # a date drill-down counts the whole log per level
    show_full_result_count = False  # no COUNT(*) of the whole log on every page
    ordering = ["-at", "-id"]
    actions = None
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
