"""Webhook reads: endpoints, and deliveries with their attempts (two queries a page)."""

from django.db.models import Prefetch, QuerySet

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_list() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.all()


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related(
        Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("attempted_at", "id"))
    )
