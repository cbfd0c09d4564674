"""The users API of a tenant: the directory, user management for admins, and ``me``.
Its OpenAPI documentation is in ``openapi.py``."""

from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from atrium.platform.api.views import TenantGenericViewSet

from . import openapi, selectors, services
from .permissions import IsTenantAdmin
from .serializers import (
    PasswordChangeSerializer,
    PasswordSetSerializer,
    ProfileUpdateSerializer,
    UserCreatedSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from .tokens import token_pair_issue


@openapi.user_viewset
class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantGenericViewSet,
):
    serializer_class = UserSerializer
    filterset_class = selectors.UserFilter
    search_fields = ["email", "name"]
    ordering_fields = ["email", "name", "role", "date_joined"]
    ordering = ["email"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    action_permissions = {
        "create": (IsTenantAdmin,),
        "partial_update": (IsTenantAdmin,),
        "destroy": (IsTenantAdmin,),
        "password": (IsTenantAdmin,),
    }

    def get_queryset(self):
        return selectors.user_list()

    def create(self, request, *args, **kwargs):
        payload = UserCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.user_create(actor=request.user, **payload.validated_data)
        data = UserCreatedSerializer(created.user).data | {
            "one_time_password": created.one_time_password
        }
        return Response(data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        payload = UserUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_update(
            actor=request.user, user=self.get_object(), **payload.validated_data
        )
        return Response(UserSerializer(user).data)

    def destroy(self, request, *args, **kwargs):
        services.user_deactivate(actor=request.user, user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=False, methods=["get", "patch"], url_path="me")
    def me(self, request):
        if request.method == "PATCH":
            payload = ProfileUpdateSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            user = services.user_update(
                actor=request.user, user=request.user, **payload.validated_data
            )
            return Response(UserSerializer(user).data)
        return Response(UserSerializer(request.user).data)

    @action(detail=False, methods=["post"], url_path="me/password")
    def me_password(self, request):
        payload = PasswordChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_password_change(
            actor=request.user,
            user=request.user,
            password=payload.validated_data["password"],
            current_password=payload.validated_data["current_password"],
        )
        pair = token_pair_issue(user=user)
        return Response({"access": pair.access, "refresh": pair.refresh})

    @action(detail=True, methods=["post"], url_path="password")
    def password(self, request, *args, **kwargs):
        payload = PasswordSetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.user_password_change(
            actor=request.user, user=self.get_object(), password=payload.validated_data["password"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
