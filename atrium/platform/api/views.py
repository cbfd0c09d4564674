"""Base views of every tenant API: safe by default, with opt-outs that say so by name.

Like PostHog's ``TeamAndOrgViewSetMixin``, a subclass cannot quietly replace how a request
is authenticated, authorised or throttled: it declares extra permissions as data
(``permissions``, ``action_permissions``) and can only drop a default through an
attribute whose name starts with ``dangerously_``. Every request is checked to run
inside a tenant, so a tenant view mounted on the platform host fails closed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import permissions, viewsets
from rest_framework.settings import api_settings

from atrium.tenants.context import current_tenant

# Methods that decide who may do what; a subclass declaring them is refused at import.
_GUARDED = ("get_permissions", "get_authenticators", "get_throttles", "check_permissions")
_GUARDED_ATTRIBUTES = ("authentication_classes", "throttle_classes", "permission_classes")


class TenantAPIMixin:
    """Authenticated (tenant-bound JWT), tenant-scoped, throttled and paginated by default."""

    #: Extra permission classes for every action (composable with ``&`` and ``|``).
    permissions: ClassVar[tuple[Any, ...]] = ()
    #: Extra permission classes per action (``{"create": (IsTenantAdmin,)}``).
    action_permissions: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: Opt-outs, by name.
    dangerously_allow_anonymous: ClassVar[bool] = False
    dangerously_skip_throttling: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in (*_GUARDED, *_GUARDED_ATTRIBUTES):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} overrides {name!r}. Tenant API views declare "
                    "`permissions` / `action_permissions`, or opt out with a "
                    "`dangerously_…` attribute."
                )

    def get_authenticators(self):
        return [auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]

    def get_permissions(self):
        required: list[Any] = (
            [] if self.dangerously_allow_anonymous else [permissions.IsAuthenticated]
        )
        required.extend(self.permissions)
        required.extend(self.action_permissions.get(getattr(self, "action", None) or "", ()))
        return [permission() for permission in required]

    def get_throttles(self):
        if self.dangerously_skip_throttling:
            return []
        return [throttle() for throttle in api_settings.DEFAULT_THROTTLE_CLASSES]

    def initial(self, request, *args, **kwargs):
        current_tenant()  # raises outside a tenant: never serve tenant data from public
        super().initial(request, *args, **kwargs)


class TenantGenericViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    """The base of tenant ViewSets; add the mixins (list, retrieve, …) you need, and write
    through the app's services (no ``serializer.save()`` that would skip them)."""

    @classmethod
    def list_route_paths(cls) -> frozenset[str]:
        """The paths of this ViewSet's list routes (``detail=False`` actions, such as
        ``products/top-rated/``). The router matches them before the detail route, so an
        object whose lookup value is one of them cannot be reached by it: slugs never take
        one, and the schema's id pattern excludes them (``schema.AutoSchema``)."""
        return frozenset(action.url_path for action in cls.get_extra_actions() if not action.detail)
