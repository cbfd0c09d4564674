"""What each app holds about a person, and how it de-identifies it.

An app registers one entry in its ``AppConfig.ready()``:
``register("reviews", collect=…, erase=…)``. ``collect(user)`` returns JSON-able data for
the person's export; ``erase(user)`` (optional) revokes or de-identifies what the app holds,
inside the erasure's transaction, and returns counts (no personal data: they go to the
audit entry). An app that lands later adds its own entry; nothing here names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ERASED_DOMAIN = "erased.invalid"  # .invalid: reserved (RFC 2606), never delivers

Collect = Callable[[Any], Any]
Erase = Callable[[Any], dict[str, int] | None]


@dataclass(frozen=True, slots=True)
class PersonalData:
    name: str
    collect: Collect
    erase: Erase | None = None


_entries: dict[str, PersonalData] = {}


def register(name: str, *, collect: Collect, erase: Erase | None = None) -> None:
    """Declare what an app holds about a person (``name`` is the export's key)."""
    if name in _entries and _entries[name].collect is not collect:
        raise ValueError(f"personal data {name!r} is registered already")
    _entries[name] = PersonalData(name=name, collect=collect, erase=erase)


def registered() -> list[PersonalData]:
    return list(_entries.values())


def erased_email(user) -> str:
    """The address an erased person's e-mail becomes, wherever an app kept it."""
    return f"erased-{user.pk.hex}@{ERASED_DOMAIN}"
