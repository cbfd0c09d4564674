"""Role permissions of a tenant: plain predicates, and the composable DRF permission
classes that ask them (so work outside a request, such as an import job, asks the same)."""

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from atrium.errors import PermissionDenied

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
        if is_tenant_admin(request.user):
            return True
        _refuse_withheld_scope(request.user)
        return False


class ReadOnly(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS


class IsObjectOwner(BasePermission):
    """The object's ``owner`` (or ``author``) is the requesting user."""

    def has_permission(self, request, view) -> bool:
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return is_object_owner(request.user, obj)


class InsufficientScope(exceptions.PermissionDenied):
    """An API key tried a method or route its scopes do not allow (403)."""

    default_code = "insufficient_scope"
    default_detail = "This API key's scopes do not allow this."


def _refuse_withheld_scope(user) -> None:
    """A request with an API key whose creator could do this, had the key the ``admin``
    scope: say so (403 ``insufficient_scope``) rather than a plain permission denial."""
    if getattr(user, "scope_withheld_admin", False):
        raise InsufficientScope(
            "This API key lacks the 'admin' scope this route needs (its creator is an admin)."
        )


class PersonRequired(PermissionDenied):
    """Only a person (signed in with a token), not an API key, may do this."""

    code = "person_required"
    message_template = "API keys cannot do this: sign in as a person and use a bearer token."


def refuse_api_keys(user) -> None:
    """Raise ``PersonRequired`` when ``user`` is an API key's principal."""
    if getattr(user, "api_key", None) is not None:
        raise PersonRequired()


class IsPerson(BasePermission):
    """Refuses requests made with an API key (403 ``person_required``): for what only makes
    sense for, or must only be done by, a person signed in (their sessions, managing keys)."""

    def has_permission(self, request, view) -> bool:
        refuse_api_keys(request.user)
        return True
