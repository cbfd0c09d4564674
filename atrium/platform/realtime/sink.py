"""The events sink of the WebSocket: each published event to the sockets it is for.

An event declared with ``audience="user"`` (a job's outcome) reaches the sockets of the
user it was published for; every other one reaches every socket of the tenant. Sockets
receive ``event.envelope()``: ``{"type", "id", "data", "ts"}``.
"""

from __future__ import annotations

from atrium.platform.events import Event, event_type
from atrium.tenants.sockets import tenant_group, user_group

from .events import send_envelope


def send_to_sockets(event: Event) -> None:
    """Called after commit, in the tenant's scope (``ATRIUM_EVENT_SINKS``)."""
    audience = event_type(event.type).audience
    group = user_group(event.user_id) if audience == "user" else tenant_group()
    send_envelope(group, event.envelope())
