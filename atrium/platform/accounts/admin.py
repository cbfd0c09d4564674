"""User admin: the tenant admin manages users by the same rules as the API (services);
the platform admin lists the operators."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminPasswordChangeForm as OwnPasswordChangeForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm

from atrium.errors import form_errors
from atrium.platform.admin import TenantAdminPermissions, tenant_admin_site

from . import services
from .emails import canonical_email
from .models import User


class ServicePasswordChangeForm(OwnPasswordChangeForm):
    """The tenant admin's own "change password" through the service, as the API's: the
    password stops being one-time, every token of the user is revoked, the change is
    audited and its owner is told by mail."""

    def save(self, commit: bool = True):
        changed = services.password_change(
            user=self.user,
            current_password=self.cleaned_data["old_password"],
            new_password=self.cleaned_data["new_password1"],
        )
        # The view keeps this session signed in from the hash of ``self.user``.
        self.user.password = changed.password
        self.user.password_change_required = False
        return self.user


tenant_admin_site.password_change_form = ServicePasswordChangeForm


@admin.register(User)
class OperatorAdmin(DjangoUserAdmin):
    """Operators in the public schema (platform admin)."""

    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_superuser", "date_joined"]
    list_filter = ["is_active", "is_superuser"]
    search_fields = ["email", "name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})
    ]


class TenantUserChangeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "role", "is_active"]

    def clean(self):
        cleaned = super().clean()
        with form_errors():
            services.user_update_check(
                actor=self.actor,
                user=User.objects.get(pk=self.instance.pk),
                role=cleaned.get("role"),
                is_active=cleaned.get("is_active"),
            )
        return cleaned


class CanonicalEmailFormField(forms.EmailField):
    """The e-mail in its canonical form (``emails.py``), validated after normalising."""

    def to_python(self, value):
        return canonical_email(super().to_python(value))


class TenantUserAddForm(forms.ModelForm):
    email = CanonicalEmailFormField(max_length=254)
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="Leave empty to generate a one-time password, shown once after saving.",
    )

    class Meta:
        model = User
        fields = ["email", "name", "role"]

    def clean(self):
        cleaned = super().clean()
        with form_errors():
            services.user_create_check(
                actor=self.actor,
                email=cleaned.get("email") or "",
                role=cleaned.get("role") or "",
                password=cleaned.get("password") or None,
            )
        return cleaned


class TenantUserAdmin(TenantAdminPermissions, admin.ModelAdmin):
    """Owners and admins of the tenant manage its users; users are deactivated, never deleted,
    and every change goes through the account services (last-owner rule included)."""

    ordering = ["email"]
    list_display = ["email", "name", "role", "is_active", "date_joined", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["email", "name"]
    readonly_fields = ["email", "date_joined", "last_login"]
    change_password_form = AdminPasswordChangeForm

    def get_fields(self, request, obj=None):
        return (
            ["email", "name", "role", "password"]
            if obj is None
            else ["email", "name", "role", "is_active", "date_joined", "last_login"]
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = TenantUserChangeForm if obj else TenantUserAddForm
        kwargs["fields"] = None
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.user_update(
                actor=request.user,
                user=obj,
                name=data["name"],
                role=data["role"],
                is_active=data["is_active"],
            )
            return
        created = services.user_create(
            actor=request.user,
            email=data["email"],
            name=data["name"],
            role=data["role"],
            password=data["password"] or None,
        )
        obj.pk = created.user.pk
        obj._state.adding = False
        if created.one_time_password:
            messages.warning(
                request,
                f"One-time password for {created.user.email}: {created.one_time_password} "
                "(shown only now).",
            )


tenant_admin_site.register(User, TenantUserAdmin)
