"""The users API of a tenant: the directory, user management for admins, and ``me``.
Its OpenAPI documentation is in ``openapi.py``."""

from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from atrium.platform.api.views import TenantServiceViewSet

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
class UserViewSet(TenantServiceViewSet):
    serializer_class = UserSerializer
    write_serializer_class = UserUpdateSerializer
    filterset_class = selectors.UserFilter
    search_fields = ["email", "name"]
    ordering_fields = ["email", "name", "role", "date_joined"]
    ordering = ["email"]
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
        # The answer carries the one-time password, once: not the plain user rendering.
        data = self.validated(UserCreateSerializer)
        created = services.user_create(actor=request.user, **data)
        body = UserCreatedSerializer(created.user).data | {
            "one_time_password": created.one_time_password
        }
        return Response(body, status=status.HTTP_201_CREATED)

    def update_object(self, user, data):
        return services.user_update(actor=self.request.user, user=user, **data)

    def delete_object(self, user):
        services.user_deactivate(actor=self.request.user, user=user)

    @action(detail=False, methods=["get", "patch"], url_path="me")
    def me(self, request):
        if request.method == "PATCH":
            data = self.validated(ProfileUpdateSerializer)
            return self.rendered(
                services.user_update(actor=request.user, user=request.user, **data)
            )
        return self.rendered(request.user)

    @action(detail=False, methods=["post"], url_path="me/password")
    def me_password(self, request):
        data = self.validated(PasswordChangeSerializer)
        user = services.user_password_change(
            actor=request.user,
            user=request.user,
            password=data["password"],
            current_password=data["current_password"],
        )
        pair = token_pair_issue(user=user)
        return Response({"access": pair.access, "refresh": pair.refresh})

    @action(detail=True, methods=["post"], url_path="password")
    def password(self, request, *args, **kwargs):
        data = self.validated(PasswordSetSerializer)
        services.user_password_change(
            actor=request.user, user=self.get_object(), password=data["password"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
