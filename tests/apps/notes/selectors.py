"""Notes reads."""

from django.db.models import QuerySet

from .models import Note


def note_list() -> QuerySet[Note]:
    return Note.objects.select_related("author")
