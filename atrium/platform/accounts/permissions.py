"""Role permissions of a tenant: plain predicates, and the composable DRF permission
classes that ask them (so work outside a request, such as an import job, asks the same)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Role

OWNER_FIELDS = ("owner_id", "author_id")


def is_tenant_admin(user) -> bool:
    """An owner or admin of the tenant."""
    return bool(user and user.is_authenticated and user.role in (Role.OWNER, Role.ADMIN))


def is_object_owner(user, obj) -> bool:
    """The object's ``owner`` (or ``author``) is ``user``."""
    return bool(user and user.is_authenticated) and any(
        getattr(obj, field, None) == user.pk for field in OWNER_FIELDS
    )


class IsTenantAdmin(BasePermission):
    """Owners and admins of the tenant."""

    message = "Only the tenant's owners and admins may do this."

    def has_permission(self, request, view) -> bool:
        return is_tenant_admin(request.user)


class ReadOnly(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS


class IsObjectOwner(BasePermission):
    """The object's ``owner`` (or ``author``) is the requesting user."""

    def has_permission(self, request, view) -> bool:
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return is_object_owner(request.user, obj)
