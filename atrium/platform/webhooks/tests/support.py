"""Helpers of the webhooks tests that run a real worker: events published the way the
events bus hands them to the sink, and endpoints made and removed with committed writes."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from atrium.platform.events import Event
from atrium.platform.webhooks import services, sink
from atrium.platform.webhooks.models import WebhookEndpoint
from atrium.tenants.context import tenant_scope


def emit(tenant, event_type: str, **data: Any) -> float:
    """Hand an event to the webhooks sink in ``tenant``'s scope, as the bus does after a
    commit; returns when (time.time()) its deliveries were committed."""
    with tenant_scope(tenant):
        event = Event(
            type=event_type, version=1, id=data.pop("id", "x"), data=data, ts=timezone.now()
        )
        sink.enqueue_deliveries([event])
    return time.time()


def endpoint(tenant, url: str, events=("product.created",)) -> WebhookEndpoint:
    with tenant_scope(tenant):
        return services.webhook_create(url=url, events=list(events))


def clear(*tenants) -> None:
    for tenant in tenants:
        with tenant_scope(tenant):
            WebhookEndpoint.objects.all().delete()
