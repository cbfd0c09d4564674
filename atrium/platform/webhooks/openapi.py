"""The webhooks API's OpenAPI documentation, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import extend_schema

from atrium.platform.api.openapi import (
    action_schema,
    document,
    error_example,
    request_example,
    response_example,
)

from .serializers import (
    DeliverySerializer,
    WebhookSerializer,
    WebhookWithSecretSerializer,
    WebhookWriteSerializer,
)

ENDPOINT = {
    "id": "5a0f8c9e-2b1d-4a8e-9f3c-7d6e5b4a3c21",
    "url": "https://hooks.example.com/atrium",
    "description": "Order system",
    "events": ["product.created", "product.updated"],
    "enabled": True,
    "consecutive_failures": 0,
    "disabled_at": None,
    "disabled_reason": "",
    "previous_secret_expires_at": None,
    "created_at": "2026-12-07T10:00:00Z",
    "updated_at": "2026-12-07T10:00:00Z",
}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DELIVERY = {
    "id": "0c2d9a8e-1f3b-4c5d-8e7f-6a5b4c3d2e1f",
    "webhook_id": "msg_4f9d0c1b2a3e4d5c6b7a8f9e0d1c2b3a",
    "event_type": "product.created",
    "status": "pending",
    "attempt_count": 1,
    "next_attempt_at": "2026-12-07T10:00:06Z",
    "last_attempt_at": "2026-12-07T10:00:01Z",
    "created_at": "2026-12-07T10:00:01Z",
    "attempts": [
        {
            "attempted_at": "2026-12-07T10:00:01Z",
            "succeeded": False,
            "response_status": 503,
            "duration_ms": 42,
            "response_body": "busy",
            "error": "",
        }
    ],
}
RULES = (
    "Delivery: `POST` of `{type, timestamp, data}` with the Standard Webhooks headers "
    "`webhook-id` (the same on every retry), `webhook-timestamp` and `webhook-signature` "
    "(`v1,<base64 HMAC-SHA256>`); only 2xx counts, redirects are not followed, 10 s timeout, "
    "retried with backoff over about a day. The URL must not carry credentials, must be "
    "http(s) (https in production), at most 2,048 characters, and its host must be and "
    "resolve to public addresses only."
)


def webhook_viewset(viewset):
    return document(
        viewset,
        "webhooks",
        list=extend_schema(summary="List webhook endpoints (owners and admins)"),
        retrieve=extend_schema(summary="Show a webhook endpoint"),
        create=extend_schema(
            summary="Subscribe a webhook endpoint",
            description="Answers 201 with the signing secret `secret` (`whsec_…`), shown "
            f"once. At most ATRIUM_MAX_WEBHOOKS (20) per tenant. {RULES}",
            request=WebhookWriteSerializer,
            responses={201: WebhookWithSecretSerializer},
            examples=[
                request_example(
                    "Subscribe",
                    {"url": ENDPOINT["url"], "events": ENDPOINT["events"], "description": "x"},
                ),
                response_example("Created", {**ENDPOINT, "secret": SECRET}),
                error_example(
                    "Private address",
                    400,
                    "url_not_public",
                    "The URL's host '10.0.0.5' is or resolves to a non-public address.",
                ),
                error_example(
                    "Too many", 409, "too_many_webhooks", "This tenant has 20 endpoints."
                ),
            ],
        ),
        partial_update=extend_schema(
            summary="Change a webhook endpoint",
            description="`url`, `events`, `description`; `enabled: true` enables a disabled "
            "endpoint again (its waiting deliveries go out).",
            request=WebhookWriteSerializer,
            responses={200: WebhookSerializer},
        ),
        destroy=extend_schema(summary="Delete a webhook endpoint and its delivery log"),
        rotate_secret=action_schema(
            "Rotate the signing secret",
            None,
            WebhookWithSecretSerializer,
            description="A new secret, shown once. The old one keeps signing next to it for "
            "24 hours (two `v1,` signatures in `webhook-signature`).",
        ),
        test=action_schema(
            "Send a webhook.test event",
            None,
            DeliverySerializer,
            status=202,
            description="To this endpoint only, whatever it subscribes to.",
            examples=[response_example("Queued", {**DELIVERY, "event_type": "webhook.test"})],
        ),
        deliveries=extend_schema(
            summary="The endpoint's delivery log",
            description="One delivery per event, newest first: its `webhook_id`, status "
            "(`pending`, `succeeded`, `failed`), the next attempt, and every attempt with "
            "its response code, duration and the first KiB of the response.",
            responses={200: DeliverySerializer(many=True)},
            examples=[response_example("Delivery", DELIVERY)],
        ),
        retry=action_schema(
            "Send a delivery again",
            None,
            DeliverySerializer,
            status=202,
            description="Now, with the same `webhook-id` and body.",
        ),
    )
