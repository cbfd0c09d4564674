"""Notes API (``/api/v1/notes/``): validate input, call one service or selector, serialize."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from atrium.platform.api.views import TenantGenericViewSet

from . import selectors, services
from .openapi import NOTE_VIEWSET
from .serializers import NoteSerializer, NoteWriteSerializer


@NOTE_VIEWSET
@extend_schema(tags=["notes"])
class NoteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantGenericViewSet,
):
    serializer_class = NoteSerializer
    ordering_fields = ["created_at", "title"]
    ordering = ["-created_at"]
    lookup_value_regex = "[0-9a-f-]{36}"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.note_list()

    def create(self, request, *args, **kwargs):
        payload = NoteWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        note = services.note_create(author=request.user, **payload.validated_data)
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        note = self.get_object()
        payload = NoteWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        note = services.note_update(note=note, **payload.validated_data)
        return Response(NoteSerializer(note).data)

    def destroy(self, request, *args, **kwargs):
        services.note_delete(note=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
