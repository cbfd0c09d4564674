"""Notes writes: validate, save, and let the cached responses of the app go stale."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from atrium.errors import InvalidInput
from atrium.platform.accounts.models import User

from .models import Note


def _clean(note: Note) -> None:
    try:
        note.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(messages[0], code="invalid", field=field) from None


@transaction.atomic
def note_create(*, author: User, title: str, body: str = "") -> Note:
    note = Note(author=author, title=title, body=body)
    _clean(note)
    note.save()
    return note


@transaction.atomic
def note_update(*, note: Note, **changes: Any) -> Note:
    for field, value in changes.items():
        setattr(note, field, value)
    _clean(note)
    note.save()
    return note


@transaction.atomic
def note_delete(*, note: Note) -> None:
    note.delete()
