"""The tenant admin site (``<tenant host>/admin/``, for that tenant's staff users), the
admins' rate-limited sign-in, and the tenant's own settings page for CORS origins.

The platform admin (``<base host>/admin/``) is Django's default ``admin.site``; keeping
two sites means a tenant admin can never see the Tenant and Domain tables, which live in
the public schema only. Both sign in through ``ThrottledLoginMixin``: the API's login
limits, buckets and lockout answer.
"""

import functools
import math

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import path, reverse
from rest_framework.exceptions import Throttled

from atrium.errors import AtriumError
from atrium.platform.api.throttling import LoginUnavailable, enforce_login_rate
from atrium.tenants import services as tenant_services
from atrium.tenants.cors import validate_origins


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, counted in the API's login buckets (per tenant + canonical
    e-mail and per client address) before the password is checked, so failures in the
    admin and on ``/api/v1/auth/token/`` spend one budget."""

    # The answer the login view gives instead of 200 when the form was refused here.
    refused_status: int | None = None
    retry_after: int = 0

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and self.cleaned_data.get("password"):
            try:
                enforce_login_rate(self.request, username)
            except Throttled as exc:
                self.refused_status, self.retry_after = 429, max(1, math.ceil(exc.wait or 1))
                raise forms.ValidationError(
                    "Too many sign-in attempts for this e-mail or from this address. "
                    f"Try again in {self.retry_after} seconds.",
                    code="throttled",
                ) from None
            except LoginUnavailable as exc:
                self.refused_status, self.retry_after = 503, exc.retry_after
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return super().clean()


def _with_refusal_status(response: HttpResponse) -> HttpResponse:
    """The login page refused by the limiter answers 429 (503 when the limiter cannot
    answer) with ``Retry-After``, like the API, instead of an ordinary 200."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    status = getattr(form, "refused_status", None)
    if status is not None:
        response.status_code = status
        response["Retry-After"] = str(form.retry_after)
    return response


class ThrottledLoginMixin:
    """An AdminSite whose login is limited like the API's (see the form above)."""

    login_form = ThrottledAdminAuthenticationForm

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        return _with_refusal_status(super().login(request, extra_context))


def limit_admin_login(site: AdminSite) -> None:
    """Give a site created elsewhere (the platform admin, Django's default ``admin.site``)
    the throttled login; call it before the site's URLs are built."""
    if isinstance(site, ThrottledLoginMixin) or getattr(site, "_atrium_login_limited", False):
        return
    plain_login = site.login

    @functools.wraps(plain_login)  # keeps never_cache and login_not_required
    def login(request: HttpRequest, extra_context=None) -> HttpResponse:
        return _with_refusal_status(plain_login(request, extra_context))

    site.login_form = ThrottledAdminAuthenticationForm
    site.login = login
    site._atrium_login_limited = True


class TenantAdminSite(ThrottledLoginMixin, AdminSite):
    site_header = "Atrium"
    site_title = "Atrium tenant admin"
    index_title = "Your organisation"

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
        try:
            return validate_origins([line for line in lines if line])
        except AtriumError as error:
            raise forms.ValidationError(error.message, code=error.code) from None


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
