"""Notes API (``/api/v1/notes/``): validate input, call one service or selector, serialize."""

from atrium.platform.api.views import TenantServiceViewSet

from . import selectors, services
from .openapi import note_viewset
from .serializers import NoteSerializer, NoteWriteSerializer


@note_viewset
class NoteViewSet(TenantServiceViewSet):
    serializer_class = NoteSerializer
    write_serializer_class = NoteWriteSerializer
    ordering_fields = ["created_at", "title"]
    ordering = ["-created_at"]
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        return selectors.note_list()

    def create_object(self, data):
        return services.note_create(author=self.request.user, **data)

    def update_object(self, note, data):
        return services.note_update(note=note, **data)

    def delete_object(self, note):
        services.note_delete(note=note)
