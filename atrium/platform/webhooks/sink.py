"""The events sink of webhooks (``ATRIUM_EVENT_SINKS``): called after each commit, in the
publishing tenant's scope, with the transaction's events, it records one delivery per
event and enabled endpoint subscribed to the event's type, all in one INSERT, and kicks
the tenant's drain once (``tasks.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from atrium.platform.events import Event

from . import services


def enqueue_deliveries(events: Sequence[Event]) -> None:
    endpoints = services.enabled_endpoints()  # one query, matched per event below
    if not endpoints:
        return
    services.messages_record(
        services.Message(
            event_type=event.type,
            body=event.webhook_body(),
            endpoints=[endpoint for endpoint in endpoints if event.type in endpoint.events],
        )
        for event in events
    )
