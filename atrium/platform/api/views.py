"""Base views of every tenant API: safe by default, with opt-outs that say so by name.

Like PostHog's ``TeamAndOrgViewSetMixin``, a subclass cannot quietly replace how a request
is authenticated, authorised or throttled: it declares extra permissions as data
(``permissions``, ``action_permissions``) and can only drop a default through an
attribute whose name starts with ``dangerously_``. Every request is checked to run
inside a tenant, so a tenant view mounted on the platform host fails closed.

Writes go through the app's services, never ``serializer.save()``: the ``Service…Mixin``
actions validate ``write_serializer_class``, call one hook (``create_object``,
``update_object``, ``delete_object``) that calls one service, and render the result with
``serializer_class``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import mixins, permissions, status, viewsets
from rest_framework.response import Response
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
    """The base of tenant ViewSets; add the mixins (list, retrieve, ``Service…Mixin``) you
    need, and write through the app's services (no ``serializer.save()`` that would skip
    them)."""

    #: Validates the body of ``create`` and (partially) of ``partial_update``.
    write_serializer_class: ClassVar[type | None] = None

    @classmethod
    def list_route_paths(cls) -> frozenset[str]:
        """The paths of this ViewSet's list routes (``detail=False`` actions, such as
        ``products/top-rated/``). The router matches them before the detail route, so an
        object whose lookup value is one of them cannot be reached by it: slugs never take
        one, and the schema's id pattern excludes them (``schema.AutoSchema``)."""
        return frozenset(action.url_path for action in cls.get_extra_actions() if not action.detail)

    def validated(self, serializer_class: type | None = None, *, partial: bool = False) -> dict:
        """The request body, validated by ``serializer_class`` (``write_serializer_class``
        unless given); invalid input answers 400."""
        payload = (serializer_class or self.write_serializer_class)(
            data=self.request.data, partial=partial
        )
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    def rendered(self, instance: Any, status_code: int = status.HTTP_200_OK) -> Response:
        """``instance`` as ``serializer_class`` renders it."""
        return Response(self.get_serializer_class()(instance).data, status=status_code)


class ServiceCreateMixin:
    """``create``: validate, call ``create_object(data)``, answer 201 with the new object."""

    def create_object(self, data: dict) -> Any:
        raise NotImplementedError(f"{type(self).__name__} creates through a service")

    def create(self, request, *args, **kwargs):
        return self.rendered(self.create_object(self.validated()), status.HTTP_201_CREATED)


class ServiceUpdateMixin:
    """``partial_update`` (PATCH; there is no PUT): find the object, validate the fields sent,
    call ``update_object(instance, data)``, answer with the changed object."""

    def update_object(self, instance: Any, data: dict) -> Any:
        raise NotImplementedError(f"{type(self).__name__} updates through a service")

    def partial_update(self, request, *args, **kwargs):
        instance = self.get_object()
        return self.rendered(self.update_object(instance, self.validated(partial=True)))


class ServiceDestroyMixin:
    """``destroy``: find the object, call ``delete_object(instance)``, answer 204."""

    def delete_object(self, instance: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} deletes through a service")

    def destroy(self, request, *args, **kwargs):
        self.delete_object(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TenantServiceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ServiceCreateMixin,
    ServiceUpdateMixin,
    ServiceDestroyMixin,
    TenantGenericViewSet,
):
    """List, retrieve, create, change (PATCH) and delete, writing through the app's services:
    set ``serializer_class``, ``write_serializer_class`` and ``get_queryset``, and write the
    three hooks."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
