"""The events sink of the WebSocket: each published event to the sockets it is for.

An event declared with ``audience="user"`` (a job's outcome) reaches the sockets of the
user it was published for; every other one reaches every socket of the tenant. Sockets
receive ``event.envelope()``: ``{"type", "id", "data", "ts"}``.
"""

from __future__ import annotations

from collections.abc import Sequence

from atrium.platform.events import Event, event_type
from atrium.tenants.sockets import tenant_group, user_group

from .events import send_envelopes


def send_to_sockets(events: Sequence[Event]) -> None:
    """Called after each commit with its events, in the tenant's scope
    (``ATRIUM_EVENT_SINKS``); sends them in order."""
    send_envelopes([(_group(event), event.envelope()) for event in events])


def _group(event: Event) -> str:
    if event_type(event.type).audience == "user":
        return user_group(event.user_id)
    return tenant_group()
