"""Who may change what in the catalog: one predicate per rule, asked by the API's
permission classes and by the CSV import alike, so the two can never disagree."""

from rest_framework.permissions import BasePermission

from atrium.platform.accounts.permissions import is_object_owner, is_tenant_admin


def may_change_product(user, product) -> bool:
    """Members create products and change (or delete) their own; owners and admins change
    any."""
    return is_tenant_admin(user) or is_object_owner(user, product)


class MayChangeProduct(BasePermission):
    message = "Only the product's owner, or the tenant's owners and admins, may change it."

    def has_permission(self, request, view) -> bool:
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return may_change_product(request.user, obj)
