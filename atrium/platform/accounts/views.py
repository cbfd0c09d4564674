"""The users API of a tenant: the directory, user management for admins, and ``me``; and
the signed-in user's password change and sessions (under ``auth/``). Their OpenAPI
documentation is in ``openapi.py``."""

from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from atrium.platform.api.views import TenantAPIMixin, TenantGenericViewSet, TenantServiceViewSet

from . import openapi, selectors, services
from .permissions import IsPerson, IsTenantAdmin
from .serializers import (
    EmailChangeSerializer,
    PasswordChangeSerializer,
    PasswordSetSerializer,
    ProfileUpdateSerializer,
    SessionSerializer,
    UserCreatedSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
    user_row,
)
from .tokens import session_id_of, session_revoke, token_pair_issue


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

    # A user whose password is one-time may still read and rename itself.
    allowed_before_password_change = ("me",)

    @action(detail=False, methods=["get", "patch"], url_path="me")
    def me(self, request):
        user = request.user
        if request.method == "PATCH":
            data = self.validated(ProfileUpdateSerializer)
            user = services.user_update(actor=user, user=user, **data)
        return Response(user_row(user))

    @action(detail=False, methods=["post"], url_path="me/email")
    def me_email(self, request):
        data = self.validated(EmailChangeSerializer)
        services.email_change_request(user=request.user, **data)
        return Response(
            {"detail": "A confirmation link is on its way to the new address."},
            status=status.HTTP_202_ACCEPTED,
        )

    @action(detail=True, methods=["post"], url_path="password")
    def password(self, request, *args, **kwargs):
        data = self.validated(PasswordSetSerializer)
        services.user_password_set(actor=request.user, user=self.get_object(), **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


@openapi.password_change_view
class PasswordChangeView(TenantAPIMixin, GenericAPIView):
    """``POST auth/password/change/``: the one endpoint (with logout and ``users/me/``) that
    a user whose password is one-time may call."""

    allowed_before_password_change = True
    serializer_class = PasswordChangeSerializer

    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.password_change(user=request.user, **serializer.validated_data)
        pair = token_pair_issue(user=user, request=request)
        return Response({"access": pair.access, "refresh": pair.refresh})


@openapi.session_viewset
class SessionViewSet(mixins.ListModelMixin, TenantGenericViewSet):
    """``auth/sessions/``: the signed-in user's live sessions, and revoking one."""

    serializer_class = SessionSerializer
    permissions = (IsPerson,)  # a person's sign-ins: an API key has none
    pagination_class = None
    filter_backends = []
    lookup_value_regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    def get_queryset(self):
        return selectors.session_list(user=self.request.user)

    def get_serializer_context(self):
        return super().get_serializer_context() | {
            "current_session_id": session_id_of(self.request.auth)
        }

    def destroy(self, request, *args, **kwargs):
        session = self.get_object()  # 404 for another user's: not in the queryset
        session_revoke(user=request.user, session_id=session.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
