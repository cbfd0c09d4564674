"""The tenant admin site (``<tenant host>/admin/``, for that tenant's staff users), its
role permissions for model admins, and the tenant's own settings page for CORS origins.

The platform admin (``<base host>/admin/``) is Django's default ``admin.site``; keeping
two sites means a tenant admin can never see the Tenant and Domain tables, which live in
the public schema only. Both sign in through ``limit_admin_login``
(``atrium.platform.accounts.throttling``): the API's login limits, buckets and lockout
answer, applied by the URL confs that serve them.
"""

import functools

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import path, reverse

from atrium.errors import form_errors
from atrium.tenants import services as tenant_services
from atrium.tenants.cors import validate_origins

# The admin views a user whose password is one-time may open: the change itself and
# leaving (as the API allows only password change, logout and users/me/).
_MUST_CHANGE_OPEN_VIEWS = frozenset({"password_change", "password_change_done", "logout"})


class TenantAdminSite(AdminSite):
    """A tenant's admin; its sign-in is throttled by ``limit_admin_login`` (config.urls_tenant).
    A user whose password is one-time (generated for them) is sent to change it before any
    other page, as the API answers 403 ``password_change_required``; the accounts package
    makes that change go through its service (``accounts/admin.py``)."""

    site_header = "Atrium"
    site_title = "Atrium tenant admin"
    index_title = "Your organisation"

    def admin_view(self, view, cacheable=False):
        guarded = super().admin_view(view, cacheable)
        if getattr(view, "__name__", "") in _MUST_CHANGE_OPEN_VIEWS:
            return guarded

        @functools.wraps(guarded)
        def inner(request, *args, **kwargs):
            if getattr(request.user, "password_change_required", False) and self.has_permission(
                request
            ):
                messages.warning(
                    request, "Your password was generated for you: choose your own to go on."
                )
                return HttpResponseRedirect(
                    reverse(f"{self.name}:password_change", current_app=self.name)
                )
            return guarded(request, *args, **kwargs)

        return inner

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = f"{tenant.name} · Atrium"
        return context

    # -- Settings: the tenant's allowed CORS origins (stored on its public Tenant row, set
    # through the same service and validation as `tenants cors`).

    def get_urls(self):
        extra = [
            path(
                "settings/cors-origins/",
                self.admin_view(self.cors_origins_view),
                name="cors_origins",
            )
        ]
        return extra + super().get_urls()

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is None and getattr(request.user, "is_tenant_admin", False):
            url = reverse(f"{self.name}:cors_origins", current_app=self.name)
            model = {
                "name": "Allowed origins (CORS)",
                "object_name": "CorsOrigins",
                "admin_url": url,
                "add_url": None,
                "view_only": False,
                "perms": {"add": False, "change": True, "delete": False, "view": True},
            }
            app_list.append(
                {
                    "name": "Settings",
                    # A shared app label: django-tenants' index only lists known apps.
                    "app_label": "tenants",
                    "app_url": url,
                    "has_module_perms": True,
                    "models": [model],
                }
            )
        return app_list

    def cors_origins_view(self, request: HttpRequest) -> HttpResponse:
        if not getattr(request.user, "is_tenant_admin", False):
            raise PermissionDenied
        slug = request.tenant.slug
        if request.method == "POST":
            form = CorsOriginsForm(request.POST)
            if form.is_valid():
                saved = tenant_services.cors_origins_set(
                    slug=slug, origins=form.cleaned_data["origins"]
                )
                messages.success(
                    request,
                    (
                        f"Saved {len(saved)} allowed origin(s)."
                        if saved
                        else "No origin is allowed now: browser apps on other origins are refused."
                    ),
                )
                return HttpResponseRedirect(request.path)
        else:
            origins = tenant_services.cors_origin_list(slug=slug)
            form = CorsOriginsForm(initial={"origins": "\n".join(origins)})
        context = {**self.each_context(request), "title": "Allowed origins (CORS)", "form": form}
        request.current_app = self.name
        return TemplateResponse(request, _cors_template(), context)


class CorsOriginsForm(forms.Form):
    origins = forms.CharField(
        label="Allowed origins",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text="One per line, as scheme://host[:port], e.g. https://app.example.com (no "
        "path, no trailing slash, no wildcard). Browser apps on these origins may call this "
        "organisation's API with a token; every other origin is refused.",
    )

    def clean_origins(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["origins"].splitlines()]
        with form_errors():
            return validate_origins([line for line in lines if line])


_CORS_TEMPLATE = """{% extends "admin/base_site.html" %}
{% block content %}<div id="content-main">
<form method="post">{% csrf_token %}
{% if form.errors %}<p class="errornote">Please correct the error below.</p>{% endif %}
<fieldset class="module aligned">{% for field in form %}<div class="form-row">
{{ field.errors }}{{ field.label_tag }} {{ field }}
<div class="help">{{ field.help_text }}</div></div>{% endfor %}</fieldset>
<div class="submit-row"><input type="submit" value="Save" class="default"></div>
</form></div>{% endblock %}"""


@functools.cache
def _cors_template():
    return engines["django"].from_string(_CORS_TEMPLATE)


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
