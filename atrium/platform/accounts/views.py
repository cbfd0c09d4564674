"""The users API of a tenant: the directory, user management for admins, and ``me``."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from atrium.platform.api.views import TenantGenericViewSet

from . import selectors, services
from .permissions import IsTenantAdmin
from .serializers import (
    PasswordChangeSerializer,
    PasswordSetSerializer,
    ProfileUpdateSerializer,
    TokenPairSerializer,
    UserCreatedSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from .tokens import token_pair_issue

USER_EXAMPLE = OpenApiExample(
    "A member",
    value={
        "id": "1b7e5d0e-3f43-4e55-9a49-8c4d7b1b6a11",
        "email": "dana@acme.test",
        "name": "Dana Scully",
        "role": "member",
        "is_active": True,
        "date_joined": "2026-11-24T10:00:00Z",
        "last_login": None,
    },
    response_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List the tenant's users",
        description="Every user of this tenant. Filter by `role` and `is_active`, search "
        "with `q` (e-mail, name), order with `ordering`.",
        examples=[USER_EXAMPLE],
    ),
    retrieve=extend_schema(summary="Get one user", examples=[USER_EXAMPLE]),
    create=extend_schema(
        summary="Create or invite a user (owners and admins)",
        description="Without `password`, a one-time password is generated and returned once. "
        "Only owners may create owners.",
        request=UserCreateSerializer,
        responses={201: UserCreatedSerializer},
        examples=[
            OpenApiExample(
                "Invite a member",
                value={"email": "dana@acme.test", "name": "Dana Scully", "role": "member"},
                request_only=True,
            )
        ],
    ),
    partial_update=extend_schema(
        summary="Change a user's name, role or access (owners and admins)",
        description="A tenant always keeps one active owner: demoting or deactivating the "
        "last one answers 409 `last_owner`. Only owners change the owner role. A change of "
        "role or a deactivation revokes the user's tokens at once (401 `token_revoked` / "
        "`user_inactive`) and closes its open sockets (4401).",
        request=UserUpdateSerializer,
        responses={200: UserSerializer},
        examples=[OpenApiExample("Promote", value={"role": "admin"}, request_only=True)],
    ),
    destroy=extend_schema(
        summary="Deactivate a user (owners and admins)",
        description="Users are never deleted: they are deactivated and can be re-activated. "
        "The user's tokens stop working at once and its open sockets are closed (4401).",
        responses={204: None},
    ),
)
@extend_schema(tags=["users"])
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

    @extend_schema(
        summary="The signed-in user",
        methods=["GET"],
        responses={200: UserSerializer},
        examples=[USER_EXAMPLE],
    )
    @extend_schema(
        summary="Update your own profile",
        methods=["PATCH"],
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer},
        examples=[OpenApiExample("Rename", value={"name": "Dana K. Scully"}, request_only=True)],
    )
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

    @extend_schema(
        summary="Change your own password",
        description="Needs the current password (400 `wrong_password` otherwise). Every "
        "token you hold stops working at once (401 `token_revoked`) and your open sockets "
        "are closed (4401 `password_changed`); the answer is a new token pair.",
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer},
    )
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

    @extend_schema(
        summary="Set a user's password (owners and admins)",
        description="Every token of the user stops working at once (401 `token_revoked`) and "
        "its open sockets are closed (4401 `password_changed`).",
        request=PasswordSetSerializer,
        responses={204: None},
    )
    @action(detail=True, methods=["post"], url_path="password")
    def password(self, request, *args, **kwargs):
        payload = PasswordSetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.user_password_change(
            actor=request.user, user=self.get_object(), password=payload.validated_data["password"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
