"""``publish()``: one event, validated now, handed to every sink after the write commits.

A sink is ``sink(events: Sequence[Event]) -> None``, named by its dotted path in
``ATRIUM_EVENT_SINKS``. It is called once per committed transaction (and tenant scope)
with all the events that transaction published, in publish order, so that it can do its
work in bulk (one query, one INSERT) rather than per event:

* an event published inside a savepoint that rolls back is dropped, the transaction's
  other events still go; a transaction that rolls back drops all of them;
* outside a transaction (autocommit) an event goes at once, in a batch of one;
* sinks run in the scope of the tenant that published (a transaction that published for
  two tenants calls each sink once per tenant, in the order the tenants first published);
* a sink that raises is logged and the others still run: the write has committed, a lost
  notification must not turn it into an error.

How (Django's on-commit hooks, ``connection.run_on_commit``): each publish registers an
ordinary on-commit hook that adds its event to the transaction's batch, so Django's own
savepoint bookkeeping drops it with its savepoint. The batch's flush is one more entry,
registered with no savepoint (so only a full rollback drops it) and kept after every add:
when another hook has been registered since, a publish appends a new flush entry and the
older ones do nothing. At commit the hooks run in order: the surviving adds, then the last
flush, which hands the batch to the sinks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from jsonschema.exceptions import best_match

from atrium.conf import atrium_settings
from atrium.tenants.context import Scope, active_scope, current_tenant, on_commit, reenter

from .catalogue import EventType, event_type

logger = logging.getLogger(__name__)

Sink = Callable[[Sequence["Event"]], None]
Targets = tuple[tuple[str, Sink], ...]


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
def _resolve(paths: tuple[str, ...]) -> Targets:
    return tuple((path, import_string(path)) for path in paths)


def sinks() -> Targets:
    """The sinks of ``ATRIUM_EVENT_SINKS``, as (dotted path, callable)."""
    return _resolve(tuple(atrium_settings.EVENT_SINKS))


def publish(
    event_type_or_name: str | EventType,
    *,
    id: object,  # noqa: A002  (the event's field name)
    data: Mapping[str, Any],
    user_id: object = None,
) -> None:
    """Publish an event of the current tenant: its sinks get it after commit, with the
    transaction's other events (at once outside a transaction), never when the
    transaction, or the savepoint it was published in, rolls back.

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
    if not connection.in_atomic_block:
        on_commit(functools.partial(_dispatch, targets, (event,)))  # at once (autocommit)
        return
    batch = _Batch.of_transaction(targets)
    transaction.on_commit(functools.partial(batch.add, active_scope(), event))
    batch.flush_last()


class _Batch:
    """The events of one transaction, with their tenant scopes, in publish order."""

    ATTRIBUTE = "atrium_events_batch"  # on the connection: the transaction's batch

    def __init__(self, targets: Targets) -> None:
        self.targets = targets
        self.events: list[tuple[Scope, Event]] = []
        self.flush_entry: _Flush | None = None  # the one flush that counts: the last
        self.flushed = False

    @classmethod
    def of_transaction(cls, targets: Targets) -> _Batch:
        """This transaction's batch: the one whose flush entry is still registered (a
        commit, a rollback or a closed connection empties ``run_on_commit``)."""
        batch = getattr(connection, cls.ATTRIBUTE, None)
        if batch is None or batch.flushed or not batch.registered():
            batch = cls(targets)
            setattr(connection, cls.ATTRIBUTE, batch)
        return batch

    def registered(self) -> bool:
        # From the end: flush entries are kept near it.
        return any(entry[1] is self.flush_entry for entry in reversed(connection.run_on_commit))

    def flush_last(self) -> None:
        """Make sure a flush entry of this batch runs after every hook registered so far."""
        hooks = connection.run_on_commit
        if hooks and hooks[-1][1] is self.flush_entry:
            return
        self.flush_entry = _Flush(self)
        # (savepoint ids, callback, robust), as Django's on_commit() registers a hook, but
        # with no savepoint: a savepoint rollback must not drop the whole batch's flush.
        hooks.append((set(), self.flush_entry, True))

    def add(self, scope: Scope, event: Event) -> None:
        self.events.append((scope, event))

    def flush(self) -> None:
        self.flushed = True
        by_scope: dict[Scope, list[Event]] = {}
        for scope, event in self.events:
            by_scope.setdefault(scope, []).append(event)
        self.events = []
        for scope, events in by_scope.items():
            with reenter(scope):
                _dispatch(self.targets, tuple(events))


class _Flush:
    """A flush entry of a batch; only the batch's last one flushes."""

    def __init__(self, batch: _Batch) -> None:
        self.batch = batch

    def __call__(self) -> None:
        if self.batch.flush_entry is self:
            self.batch.flush()


def _dispatch(targets: Targets, events: tuple[Event, ...]) -> None:
    for path, sink in targets:
        try:
            sink(events)
        except Exception:
            logger.exception(
                "events: sink %s failed on %s (%d events)",
                path,
                ", ".join(dict.fromkeys(event.type for event in events)),
                len(events),
            )
