"""Event sinks for the tests: one that records what it receives, one that raises."""

from __future__ import annotations

from collections.abc import Sequence

from atrium.platform.events import Event
from atrium.tenants.context import current_tenant

received: list[tuple[str, Event]] = []  # (tenant schema the sink ran in, event)
batches: list[tuple[str, tuple[Event, ...]]] = []  # each call: (schema, its events)


def record(events: Sequence[Event]) -> None:
    schema = current_tenant().schema_name
    batches.append((schema, tuple(events)))
    received.extend((schema, event) for event in events)


other_batches: list[tuple[str, tuple[Event, ...]]] = []  # the same, of a second sink


def record_other(events: Sequence[Event]) -> None:
    other_batches.append((current_tenant().schema_name, tuple(events)))


def explode(events: Sequence[Event]) -> None:
    raise RuntimeError(f"this sink always fails ({len(events)} events)")


def clear() -> None:
    received.clear()
    batches.clear()
    other_batches.clear()
