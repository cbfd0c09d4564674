"""The API keys API (``/api/v1/api-keys/``): list, create (the key shown once), revoke.
Owners and admins, signed in as themselves. Its OpenAPI documentation is in ``openapi.py``."""

from rest_framework import mixins, status
from rest_framework.response import Response

from atrium.platform.accounts.permissions import IsPerson, IsTenantAdmin
from atrium.platform.api.views import ServiceDestroyMixin, TenantGenericViewSet

from . import openapi, selectors, services
from .serializers import APIKeyCreatedSerializer, APIKeyCreateSerializer, APIKeySerializer


@openapi.api_key_viewset
class APIKeyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ServiceDestroyMixin, TenantGenericViewSet
):
    serializer_class = APIKeySerializer
    write_serializer_class = APIKeyCreateSerializer
    permissions = (IsPerson, IsTenantAdmin)  # keys cannot manage keys
    lookup_value_regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    ordering = ["-created"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.api_key_list()

    def create(self, request, *args, **kwargs):
        created = services.api_key_create(actor=request.user, **self.validated())
        body = APIKeyCreatedSerializer(created.api_key, context={"key": created.key}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def delete_object(self, api_key):
        services.api_key_revoke(actor=self.request.user, api_key=api_key)
