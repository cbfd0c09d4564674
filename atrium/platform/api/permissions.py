"""Role permissions of a tenant, as composable DRF permission classes."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from atrium.platform.accounts.models import Role


class IsTenantAdmin(BasePermission):
    """Owners and admins of the tenant."""

    message = "Only the tenant's owners and admins may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role in (Role.OWNER, Role.ADMIN))


class IsTenantOwner(BasePermission):
    message = "Only the tenant's owners may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role == Role.OWNER)


class ReadOnly(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS


class IsObjectOwner(BasePermission):
    """The object's ``owner`` (or ``author``) is the requesting user."""

    owner_fields = ("owner_id", "author_id")

    def has_permission(self, request, view) -> bool:
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return any(getattr(obj, field, None) == request.user.pk for field in self.owner_fields)
