"""The invitations API: owners and admins invite, list, resend and revoke
(``/api/v1/invitations/``); the invited accept (``/api/v1/auth/invitations/accept/``).
Its OpenAPI documentation is in ``openapi.py``."""

from django.contrib.auth.models import update_last_login
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from atrium.platform.accounts.permissions import IsTenantAdmin
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.platform.api.views import (
    ServiceCreateMixin,
    ServiceDestroyMixin,
    TenantGenericViewSet,
)
from atrium.tenants.context import current_tenant

from . import openapi, selectors, services
from .serializers import (
    InvitationAcceptSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
)


@openapi.invitation_viewset
class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ServiceCreateMixin,
    ServiceDestroyMixin,
    TenantGenericViewSet,
):
    serializer_class = InvitationSerializer
    write_serializer_class = InvitationCreateSerializer
    filterset_class = selectors.InvitationFilter
    search_fields = ["email"]
    ordering_fields = ["created_at", "expires_at", "email"]
    ordering = ["-created_at"]
    lookup_value_regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    permissions = (IsTenantAdmin,)
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.invitation_list()

    def create_object(self, data):
        return services.invitation_create(actor=self.request.user, **data)

    def delete_object(self, invitation):
        services.invitation_revoke(actor=self.request.user, invitation=invitation)

    @action(detail=True, methods=["post"], url_path="resend")
    def resend(self, request, *args, **kwargs):
        return self.rendered(
            services.invitation_resend(actor=request.user, invitation=self.get_object())
        )


@openapi.invitation_accept_view
class InvitationAcceptView(APIView):
    """Open to anyone with an invitation's token: the token is the credential."""

    authentication_classes = []  # opt-out by name: the invited have no account yet
    permission_classes = [AllowAny]
    serializer_class = InvitationAcceptSerializer

    def post(self, request):
        current_tenant()  # raises outside a tenant: a tenant's invitation only
        payload = InvitationAcceptSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.invitation_accept(**payload.validated_data)
        pair = token_pair_issue(user=user, request=request)  # a session with its client
        update_last_login(None, user)  # accepting signs the invited in
        return Response(
            {"access": pair.access, "refresh": pair.refresh}, status=status.HTTP_201_CREATED
        )
