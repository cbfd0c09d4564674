"""Catalog in the tenant admin: every write goes through the services (stats, cache,
events), soft-deleted rows stay visible and can be restored."""

from django import forms
from django.contrib import admin, messages

from atrium.errors import AtriumError
from atrium.platform.admin import TenantAdminPermissions, tenant_admin_site

from . import services
from .models import Category, Product, Review


class SoftDeleteAdmin(TenantAdminPermissions, admin.ModelAdmin):
    actions = ["delete_selected_softly", "restore_selected"]

    def get_queryset(self, request):
        return self.model.all_objects.get_queryset()

    def _each(self, request, queryset, service, verb: str) -> None:
        done = 0
        for obj in queryset:
            try:
                service(obj)
                done += 1
            except AtriumError as error:
                self.message_user(request, f"{obj}: {error.message}", messages.ERROR)
        self.message_user(request, f"{verb} {done} row(s).", messages.SUCCESS)

    @admin.action(description="Delete selected (soft)")
    def delete_selected_softly(self, request, queryset):
        self._each(request, queryset.filter(is_deleted=False), self.soft_delete, "Deleted")

    @admin.action(description="Restore selected")
    def restore_selected(self, request, queryset):
        self._each(request, queryset.filter(is_deleted=True), self.restore, "Restored")


@admin.register(Category, site=tenant_admin_site)
class CategoryAdmin(SoftDeleteAdmin):
    list_display = ["name", "slug", "parent", "is_deleted", "created_at"]
    list_filter = ["is_deleted", "parent"]
    search_fields = ["name", "slug", "description"]
    fields = ["name", "description", "parent"]

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in form.changed_data}
        if change:
            services.category_update(category=Category.all_objects.get(pk=obj.pk), **data)
        else:
            created = services.category_create(**form.cleaned_data)
            obj.pk, obj._state.adding = created.pk, False

    def soft_delete(self, category):
        services.category_delete(category=category)

    def restore(self, category):
        services.category_restore(category=category)


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    can_delete = False
    fields = ["author", "rating", "title", "is_deleted", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "sku", "description", "price", "stock", "status", "category", "tags"]

    def clean(self):
        cleaned = super().clean()
        try:
            services.product_check(
                sku=cleaned.get("sku"),
                category=cleaned.get("category"),
                tags=cleaned.get("tags"),
                product=self.instance if self.instance.pk else None,
            )
        except AtriumError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return cleaned


@admin.register(Product, site=tenant_admin_site)
class ProductAdmin(SoftDeleteAdmin):
    form = ProductAdminForm
    list_display = [
        "name",
        "sku",
        "price",
        "stock",
        "status",
        "category",
        "owner",
        "avg_rating",
        "review_count",
        "is_deleted",
    ]
    list_filter = ["status", "is_deleted", "category"]
    search_fields = ["name", "sku", "description"]
    list_select_related = ["category", "owner"]
    fields = ["name", "sku", "description", "price", "stock", "status", "category", "tags"]
    inlines = [ReviewInline]

    def save_model(self, request, obj, form, change):
        if change:
            data = {field: form.cleaned_data[field] for field in form.changed_data}
            services.product_update(product=Product.all_objects.get(pk=obj.pk), **data)
        else:
            created = services.product_create(owner=request.user, **form.cleaned_data)
            obj.pk, obj._state.adding = created.pk, False

    def save_related(self, request, form, formsets, change):
        pass  # reviews are read-only here; moderation is a soft delete or restore

    def soft_delete(self, product):
        services.product_delete(product=product)

    def restore(self, product):
        services.product_restore(product=product)


@admin.register(Review, site=tenant_admin_site)
class ReviewAdmin(SoftDeleteAdmin):
    list_display = ["title", "product", "author", "rating", "is_deleted", "created_at"]
    list_filter = ["rating", "is_deleted"]
    search_fields = ["title", "body", "product__name", "author__email"]
    list_select_related = ["product", "author"]
    fields = ["rating", "title", "body"]

    def has_add_permission(self, request, *args) -> bool:
        return False  # reviews are written by their authors, through the API

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data[field] for field in form.changed_data}
        services.review_update(review=Review.all_objects.get(pk=obj.pk), **data)

    def soft_delete(self, review):
        services.review_delete(review=review)

    def restore(self, review):
        services.review_restore(review=review)
