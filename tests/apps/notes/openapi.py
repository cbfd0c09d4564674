"""How the notes API is documented: summaries, request bodies and answers per action."""

from drf_spectacular.utils import extend_schema, extend_schema_view

from .serializers import NoteSerializer, NoteWriteSerializer

NOTE_VIEWSET = extend_schema_view(
    list=extend_schema(summary="List notes"),
    retrieve=extend_schema(summary="Get a note"),
    create=extend_schema(
        summary="Write a note",
        request=NoteWriteSerializer,
        responses={201: NoteSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a note",
        request=NoteWriteSerializer,
        responses={200: NoteSerializer},
    ),
    destroy=extend_schema(summary="Delete a note", responses={204: None}),
)
