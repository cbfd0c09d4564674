"""The events sink of webhooks (``ATRIUM_EVENT_SINKS``): called after commit in the
publishing tenant's scope, it records one delivery per enabled endpoint subscribed to the
event's type and kicks the tenant's drain (``tasks.py``)."""

from __future__ import annotations

from . import services


def enqueue_deliveries(event) -> None:
    endpoints = services.subscribed_endpoints(event.type)
    if not endpoints:
        return
    # One INSERT of all the event's deliveries (atomic by itself); the kick follows it.
    services.deliveries_record(
        endpoints=endpoints, event_type=event.type, body=event.webhook_body()
    )
