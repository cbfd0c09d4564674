"""What the audit API shows of an entry (every field, read-only)."""

from rest_framework import serializers

from atrium.platform.audit.models import AuditEvent

FIELDS = [
    "id",
    "at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
    "request_id",
    "changes",
    "metadata",
]


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = FIELDS
        read_only_fields = FIELDS


EXPORT_FORMATS = ("ndjson", "csv")


class AuditExportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        default="ndjson",
        help_text="`ndjson`: one JSON object per line; `csv`: one row per entry, `changes` "
        "and `metadata` as JSON cells.",
    )
