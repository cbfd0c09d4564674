"""Event sinks for the tests: one that records what it receives, one that raises."""

from __future__ import annotations

from atrium.platform.events import Event
from atrium.tenants.context import current_tenant

received: list[tuple[str, Event]] = []  # (tenant schema the sink ran in, event)


def record(event: Event) -> None:
    received.append((current_tenant().schema_name, event))


def explode(event: Event) -> None:
    raise RuntimeError(f"this sink always fails ({event.type})")
