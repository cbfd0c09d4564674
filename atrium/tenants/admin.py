"""Platform admin (public schema only): operators see and edit tenants and their domains."""

from django.contrib import admin

from .models import Domain, Tenant


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "status", "plan", "schema_name", "created_at"]
    list_filter = ["status", "plan"]
    search_fields = ["slug", "name", "domains__domain"]
    readonly_fields = ["id", "schema_name", "created_at", "updated_at"]
    fields = [
        "id",
        "slug",
        "name",
        "schema_name",
        "status",
        "status_reason",
        "plan",
        "created_at",
        "updated_at",
    ]
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        # The slug names the schema; renaming it is not an admin edit.
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def has_add_permission(self, request):
        # Tenants are born through provisioning (`manage.py tenants create`), never a bare row.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "tenant", "is_primary", "created_at"]
    list_filter = ["is_primary"]
    search_fields = ["domain", "tenant__slug"]
    autocomplete_fields = ["tenant"]
