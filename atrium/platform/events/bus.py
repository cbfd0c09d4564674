"""``publish()``: one event, validated now, handed to every sink after the write commits.

A sink is ``sink(event: Event) -> None``, named by its dotted path in
``ATRIUM_EVENT_SINKS``. Sinks run after commit (never on rollback), one after the other,
in the scope of the tenant that published; a sink that raises is logged and the others
still run: the write has committed, a lost notification must not turn it into an error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.module_loading import import_string
from jsonschema.exceptions import best_match

from atrium.conf import atrium_settings
from atrium.tenants.context import current_tenant, on_commit

from .catalogue import EventType, event_type

logger = logging.getLogger(__name__)

Sink = Callable[["Event"], None]


class EventPayloadError(ValueError):
    """A payload that does not match its declared schema (raised with
    ``ATRIUM_EVENTS_VALIDATE``, as in the tests)."""


@dataclass(frozen=True)
class Event:
    """One published event. ``id`` names the object it is about (a product's id), ``data``
    is plain JSON (decoded from what the publisher passed), ``ts`` when it was published."""

    type: str
    version: int
    id: Any
    data: dict[str, Any]
    ts: dt.datetime
    user_id: str | None = None

    def envelope(self) -> dict[str, Any]:
        """What a WebSocket receives: ``{"type", "id", "data", "ts"}``."""
        return {"type": self.type, "id": self.id, "data": self.data, "ts": self.ts.isoformat()}

    def webhook_body(self) -> dict[str, Any]:
        """A webhook's body, as Standard Webhooks shapes it: ``{"type", "timestamp",
        "data"}``; ``data`` carries the object's ``id`` first, then the event's data."""
        return {
            "type": self.type,
            "timestamp": self.ts.isoformat(),
            "data": {"id": self.id, **self.data},
        }


def _plain(value: Any) -> Any:
    # Decimals, UUIDs and datetimes become the strings every consumer reads; something
    # that cannot be encoded fails the publisher now, not a sink after commit.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


@functools.lru_cache(maxsize=8)
def _resolve(paths: tuple[str, ...]) -> tuple[tuple[str, Sink], ...]:
    return tuple((path, import_string(path)) for path in paths)


def sinks() -> tuple[tuple[str, Sink], ...]:
    """The sinks of ``ATRIUM_EVENT_SINKS``, as (dotted path, callable)."""
    return _resolve(tuple(atrium_settings.EVENT_SINKS))


def publish(
    event_type_or_name: str | EventType,
    *,
    id: object,  # noqa: A002  (the event's field name)
    data: Mapping[str, Any],
    user_id: object = None,
) -> None:
    """Publish an event of the current tenant: its sinks get it after commit (at once
    outside a transaction), never when the transaction rolls back.

    ``user_id``: the user the event is for; required by (and only used to route) events
    declared with ``audience="user"``, which reach that user's sockets only.
    Raises ValueError for an undeclared type, EventPayloadError for a payload that does not
    match its schema (when ``ATRIUM_EVENTS_VALIDATE`` is on), NoTenantError outside a
    tenant scope.
    """
    declared = (
        event_type_or_name
        if isinstance(event_type_or_name, EventType)
        else event_type(event_type_or_name)
    )
    current_tenant()  # raises outside a tenant's scope
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no event loop in this thread: sinks may block
    else:
        raise RuntimeError(
            "publish() runs blocking sinks; call it from sync code (a service, a task), or "
            "from async code through tenant_database_sync_to_async."
        )
    if not isinstance(data, Mapping):
        raise TypeError(f"Event {declared.name}: data must be a mapping, not {type(data)}.")
    if declared.audience == "user" and user_id is None:
        raise ValueError(f"Event {declared.name} is for one user: pass user_id.")
    data = _plain(dict(data))
    if atrium_settings.EVENTS_VALIDATE:
        error = best_match(declared.validator.iter_errors(data))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise EventPayloadError(
                f"Event {declared.name} v{declared.version}: data does not match its declared "
                f"schema at {where}: {error.message}"
            )
    event = Event(
        type=declared.name,
        version=declared.version,
        id=_plain(id),
        data=data,
        ts=timezone.now(),
        user_id=None if user_id is None else str(user_id),
    )
    targets = sinks()  # a misconfigured sink fails the publisher, not the commit hook
    on_commit(functools.partial(_dispatch, event, targets))


def _dispatch(event: Event, targets: tuple[tuple[str, Sink], ...]) -> None:
    for path, sink in targets:
        try:
            sink(event)
        except Exception:
            logger.exception("events: sink %s failed on %s %s", path, event.type, event.id)
