"""Helpers of the webhooks tests that run a real worker: events published the way the
events bus hands them to the sink, and endpoints made and removed with committed writes."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from atrium.platform.webhooks import services, sink
from atrium.platform.webhooks.models import WebhookEndpoint
from atrium.tenants.context import tenant_scope


@dataclass(frozen=True)
class SinkEvent:
    """What the bus hands a sink (``atrium.platform.events.Event``'s fields we read)."""

    type: str
    id: Any
    data: dict[str, Any]
    ts: dt.datetime = field(default_factory=timezone.now)

    def webhook_body(self) -> dict[str, Any]:
        return {"type": self.type, "timestamp": self.ts.isoformat(), "data": self.data}


def emit(tenant, event_type: str, **data: Any) -> float:
    """Hand an event to the webhooks sink in ``tenant``'s scope, as the bus does after a
    commit; returns when (time.time()) its deliveries were committed."""
    with tenant_scope(tenant):
        sink.enqueue_deliveries(SinkEvent(type=event_type, id=data.get("id", "x"), data=data))
    return time.time()


def endpoint(tenant, url: str, events=("product.created",)) -> WebhookEndpoint:
    with tenant_scope(tenant):
        return services.webhook_create(url=url, events=list(events))


def clear(*tenants) -> None:
    for tenant in tenants:
        with tenant_scope(tenant):
            WebhookEndpoint.objects.all().delete()
