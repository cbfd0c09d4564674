"""The declared event types: name, version, the JSON Schema of ``data``, who receives it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

# "<entity>.<action>": never collides with the WebSocket protocol's own "pong" and "error".
NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
# Who receives an event on the WebSocket: every socket of the tenant, or only those of the
# user named by ``publish(user_id=...)``. Webhooks receive every event they subscribe to.
AUDIENCES = ("tenant", "user")


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    schema: dict[str, Any]
    description: str
    audience: str = "tenant"
    validator: Draft202012Validator = field(repr=False, compare=False, default=None)


_catalogue: dict[str, EventType] = {}


def declare(
    name: str,
    *,
    version: int = 1,
    schema: dict[str, Any],
    description: str,
    audience: str = "tenant",
) -> EventType:
    """Declare an event type once; declaring it again identically returns the same one
    (a module imported twice), differently raises."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"Invalid event type {name!r}: use '<entity>.<action>', e.g. 'product.created'."
        )
    if audience not in AUDIENCES:
        raise ValueError(f"Event {name}: audience must be one of {AUDIENCES}, not {audience!r}.")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"Event {name}: version must be a positive integer.")
    if not description:
        raise ValueError(f"Event {name}: describe it for the AsyncAPI document.")
    Draft202012Validator.check_schema(schema)  # a broken schema fails at start-up
    declared = EventType(
        name=name,
        version=version,
        schema=schema,
        description=description,
        audience=audience,
        validator=Draft202012Validator(schema),
    )
    existing = _catalogue.get(name)
    if existing is not None:
        if existing != declared:
            raise ValueError(
                f"Event {name} is declared twice, differently: declare it once, in the "
                "events.py of the package that owns it."
            )
        return existing
    _catalogue[name] = declared
    return declared


def event_type(name: str) -> EventType:
    """The declared type ``name``; ValueError when nothing declares it."""
    try:
        return _catalogue[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown event type {name!r}: declare it with atrium.platform.events.declare() "
            "in the events.py of the package that owns it."
        ) from None


def event_types() -> list[EventType]:
    """Every declared type, by name."""
    return [_catalogue[name] for name in sorted(_catalogue)]
