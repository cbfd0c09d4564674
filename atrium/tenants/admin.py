"""Platform admin (public schema only): operators see tenants and change them through the
same services and validation as the CLI (``tenants …``), never by editing rows.

A tenant's name and plan are edited here (``services.tenant_update``); its status changes
through actions that run ``tenant_suspend`` / ``tenant_activate`` / ``tenant_archive``
(routing invalidation and socket closing included); domains are added, made primary and
removed through the domain services, with the CLI's validation. Creating and purging a
tenant stay with the CLI (``tenants create``, ``tenants delete --purge --yes``). Every
change is recorded in the platform audit log as the signed-in operator's, which the last
page here shows read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from atrium.errors import AtriumError, form_errors

from . import naming, services
from .audit import admin_operator, operator_scope
from .models import Domain, PlatformAuditEvent, Tenant
from .plans import plan_choices, validate_plan


class OperatorAdmin(admin.ModelAdmin):
    """Every change made through these pages is recorded in the platform audit log as the
    signed-in operator's (the services record it; this names who)."""

    def changeform_view(self, request, *args, **kwargs):
        with operator_scope(admin_operator(request.user)):
            return super().changeform_view(request, *args, **kwargs)

    def changelist_view(self, request, *args, **kwargs):  # where the actions run
        with operator_scope(admin_operator(request.user)):
            return super().changelist_view(request, *args, **kwargs)

    def delete_view(self, request, *args, **kwargs):
        with operator_scope(admin_operator(request.user)):
            return super().delete_view(request, *args, **kwargs)


class TenantForm(forms.ModelForm):
    plan = forms.ChoiceField(choices=plan_choices)

    class Meta:
        model = Tenant
        fields = ["name", "plan"]

    def clean_name(self) -> str:
        with form_errors():
            return naming.validate_name(self.cleaned_data.get("name", ""))

    def clean_plan(self) -> str:
        with form_errors():
            return validate_plan(self.cleaned_data.get("plan", ""))


class DomainInline(admin.TabularInline):
    """The tenant's domains, read-only: they change on the Domain pages (through services)."""

    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]
    readonly_fields = ["domain", "is_primary"]
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tenant)
class TenantAdmin(OperatorAdmin):
    form = TenantForm
    list_display = ["slug", "name", "status", "plan", "schema_name", "created_at"]
    list_filter = ["status", "plan"]
    search_fields = ["slug", "name", "domains__domain"]
    readonly_fields = [
        "id",
        "slug",
        "schema_name",
        "status",
        "status_reason",
        "created_at",
        "updated_at",
    ]
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
    actions = ["suspend_tenants", "activate_tenants", "archive_tenants"]

    def has_add_permission(self, request) -> bool:
        # Tenants are born through provisioning (`manage.py tenants create`), never a bare row.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive (an action) or purge with `tenants delete --purge --yes`

    def save_model(self, request, obj: Tenant, form, change: bool) -> None:
        # The form validated with the services' own validators; the service saves.
        services.tenant_update(
            slug=obj.slug, name=form.cleaned_data["name"], plan=form.cleaned_data["plan"]
        )

    def _run(self, request: HttpRequest, queryset: QuerySet, verb: str, change) -> None:
        for tenant in queryset.order_by("slug"):
            try:
                change(tenant)
            except AtriumError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{verb} {tenant.slug}.", messages.SUCCESS)

    @admin.action(description="Suspend the selected tenants (403 tenant_suspended)")
    def suspend_tenants(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = f"suspended in the platform admin by {request.user}"
        self._run(
            request,
            queryset,
            "Suspended",
            lambda tenant: services.tenant_suspend(slug=tenant.slug, reason=reason),
        )

    @admin.action(description="Activate the selected tenants (serve them again)")
    def activate_tenants(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(
            request,
            queryset,
            "Activated",
            lambda tenant: services.tenant_activate(slug=tenant.slug),
        )

    @admin.action(description="Archive the selected tenants (no longer served, data kept)")
    def archive_tenants(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = f"archived in the platform admin by {request.user}"
        self._run(
            request,
            queryset,
            "Archived",
            lambda tenant: services.tenant_archive(slug=tenant.slug, reason=reason),
        )


class DomainAddForm(forms.ModelForm):
    """A new domain, validated exactly as `tenants domains add` validates it."""

    class Meta:
        model = Domain
        fields = ["tenant", "domain", "is_primary"]

    def clean(self):
        data = super().clean()
        tenant, raw = data.get("tenant"), data.get("domain")
        if tenant is not None and raw:
            try:
                host = naming.validate_domain(raw, slug=tenant.slug)
                naming.domain_ensure_free(host)
            except AtriumError as exc:
                self.add_error("domain", ValidationError(exc.message, code=exc.code))
            else:
                data["domain"] = host
        return data

    def validate_unique(self) -> None:
        pass  # domain_ensure_free did, naming the tenant that holds the domain


class DomainChangeForm(forms.ModelForm):
    """An existing domain can only be made primary (`tenants domains set-primary`)."""

    class Meta:
        model = Domain
        fields = ["is_primary"]

    def clean_is_primary(self) -> bool:
        if self.instance.is_primary and not self.cleaned_data["is_primary"]:
            raise ValidationError(
                "A tenant always has a primary domain: make another of its domains primary "
                "instead."
            )
        return self.cleaned_data["is_primary"]


@admin.register(Domain)
class DomainAdmin(OperatorAdmin):
    list_display = ["domain", "tenant", "is_primary", "created_at"]
    list_filter = ["is_primary"]
    search_fields = ["domain", "tenant__slug"]
    autocomplete_fields = ["tenant"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = DomainChangeForm if obj is not None else DomainAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["domain", "tenant", "is_primary"] if obj else ["tenant", "domain", "is_primary"]

    def get_readonly_fields(self, request, obj=None):
        return ["domain", "tenant"] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        # One domain at a time, through domain_remove (no bulk delete, which asks with no
        # obj); the primary domain is replaced (make another primary), never removed.
        if obj is None or obj.is_primary:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj: Domain, form, change: bool) -> None:
        if not change:
            record = services.domain_add(
                slug=obj.tenant.slug, domain=obj.domain, primary=obj.is_primary
            )
            obj.pk = record.pk  # the admin's redirect and log entry name the saved row
        elif obj.is_primary:
            services.domain_set_primary(slug=obj.tenant.slug, domain=obj.domain)

    def delete_model(self, request, obj: Domain) -> None:
        services.domain_remove(slug=obj.tenant.slug, domain=obj.domain)


@admin.register(PlatformAuditEvent)
class PlatformAuditEventAdmin(admin.ModelAdmin):
    """The platform audit log, read-only (``tenants audit`` prints it too)."""

    list_display = ["at", "action", "tenant_slug", "source", "actor", "os_user", "host"]
    list_filter = ["source"]
    search_fields = ["tenant_slug", "actor", "action"]
    show_full_result_count = False
    actions = None
    readonly_fields = [field.name for field in PlatformAuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
