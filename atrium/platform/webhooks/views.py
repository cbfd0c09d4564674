"""Webhooks API (``/api/v1/webhooks/…``, owners and admins): endpoints, their secret,
a test event, and their delivery log. OpenAPI documentation in ``openapi.py``."""

from django.http import Http404
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from atrium.platform.accounts.permissions import IsTenantAdmin
from atrium.platform.api.views import TenantServiceViewSet

from . import openapi, selectors, services
from .models import WebhookDelivery
from .serializers import (
    DeliverySerializer,
    WebhookSerializer,
    WebhookWithSecretSerializer,
    WebhookWriteSerializer,
)

UUID = "[0-9a-f-]{36}"


@openapi.webhook_viewset
class WebhookViewSet(TenantServiceViewSet):
    serializer_class = WebhookSerializer
    write_serializer_class = WebhookWriteSerializer
    permissions = (IsTenantAdmin,)
    lookup_value_regex = UUID
    ordering = ["created_at"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.webhook_list()

    def get_serializer_class(self):
        if self.action in ("create", "rotate_secret"):
            return WebhookWithSecretSerializer
        return super().get_serializer_class()

    def create_object(self, data):
        return services.webhook_create(**data)

    def update_object(self, endpoint, data):
        return services.webhook_update(endpoint=endpoint, **data)

    def delete_object(self, endpoint):
        services.webhook_delete(endpoint=endpoint)

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        return self.rendered(services.webhook_rotate_secret(endpoint=self.get_object()))

    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.webhook_send_test(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(selectors.delivery_list(endpoint=self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @action(
        detail=True,
        methods=["post"],
        url_path=rf"deliveries/(?P<delivery_id>{UUID})/retry",
    )
    def retry(self, request, pk=None, delivery_id=None):
        endpoint = self.get_object()
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id).first()
        if delivery is None:
            raise Http404
        delivery = services.delivery_retry(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
