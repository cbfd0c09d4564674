"""Notes serializers: the author comes from the request, never from the body."""

from rest_framework import serializers

from atrium.platform.api.serializers import StrictFieldsMixin

from .models import Note


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "title", "body", "author", "created_at", "updated_at"]
        read_only_fields = fields


class NoteWriteSerializer(StrictFieldsMixin, serializers.Serializer):
    # Kept as sent: DRF trims before it checks max_length, so a trimmed field would take
    # one character more than the schema's maxLength allows (the fuzz suite found it).
    title = serializers.CharField(max_length=200, trim_whitespace=False)
    body = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, trim_whitespace=False
    )
