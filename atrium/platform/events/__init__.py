"""The event catalogue: every event type declared once, published through one function.

    from atrium.platform.events import declare, publish

    PRODUCT_CREATED = declare("product.created", schema={...}, description="...")
    publish("product.created", id=product.pk, data={"name": product.name})

``declare`` is called by the package that owns the event, in its ``events.py``, which its
AppConfig.ready() imports. ``publish`` validates the type (and, with
``ATRIUM_EVENTS_VALIDATE``, the payload), then hands an ``Event`` to every sink of
``ATRIUM_EVENT_SINKS`` after the transaction commits, in the tenant's scope: the WebSocket
(``atrium.platform.realtime.sink``) and the webhooks read from the same stream.

A sink is ``sink(events: Sequence[Event]) -> None``: called once per committed
transaction (and tenant) with the events that survived it (an event whose savepoint
rolled back does not), in publish order; outside a transaction, at once with one event.
A sink that raises is logged and the others still run (``bus.py``).
"""

from .bus import Event, EventPayloadError, publish, sinks
from .catalogue import EventType, declare, event_type, event_types

__all__ = [
    "Event",
    "EventPayloadError",
    "EventType",
    "declare",
    "event_type",
    "event_types",
    "publish",
    "sinks",
]
