"""How the notes API is documented: summaries, request bodies and answers per action."""

from drf_spectacular.utils import extend_schema

from atrium.platform.api.openapi import action_schema, document

from .serializers import NoteSerializer, NoteWriteSerializer


def note_viewset(viewset):
    return document(
        viewset,
        "notes",
        list=extend_schema(summary="List notes"),
        retrieve=extend_schema(summary="Get a note"),
        create=action_schema("Write a note", NoteWriteSerializer, NoteSerializer, status=201),
        partial_update=action_schema("Change a note", NoteWriteSerializer, NoteSerializer),
        destroy=extend_schema(summary="Delete a note", responses={204: None}),
    )
