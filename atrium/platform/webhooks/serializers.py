"""Webhook serializers. The secret is in the answers of create and rotate-secret only."""

from rest_framework import serializers

from atrium.platform.api.serializers import StrictFieldsMixin

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

ENDPOINT_FIELDS = [
    "id",
    "url",
    "description",
    "events",
    "enabled",
    "consecutive_failures",
    "disabled_at",
    "disabled_reason",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
]


class WebhookSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ENDPOINT_FIELDS
        read_only_fields = fields


class WebhookWithSecretSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (`whsec_…`): shown once, here. Verify deliveries with "
        "it (Standard Webhooks).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [*ENDPOINT_FIELDS, "secret"]
        read_only_fields = fields


class WebhookWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    # Lengths and rules are the service's (clear codes: url_too_long, events_empty, ...).
    url = serializers.CharField(max_length=10_000, trim_whitespace=True)
    events = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=200,
        help_text="Event types of the catalogue (`/api/asyncapi/`), e.g. `product.created`.",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    enabled = serializers.BooleanField(
        required=False, help_text="Set true to enable a disabled endpoint again."
    )


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "attempted_at",
            "succeeded",
            "response_status",
            "duration_ms",
            "response_body",
            "error",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_attempt_at",
            "created_at",
            "attempts",
        ]
        read_only_fields = fields
