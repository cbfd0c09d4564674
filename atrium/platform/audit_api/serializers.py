"""What the audit API shows of an entry (every field, read-only)."""

from datetime import UTC

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


def entry_as_dict(row: dict) -> dict:
    """A row of ``values(*FIELDS)`` as ``AuditEventSerializer`` renders it, without DRF's
    per-field work (which was most of a page's cost): the list renders its pages so."""
    at = row["at"].astimezone(UTC).isoformat()
    return {
        **row,
        "id": str(row["id"]),
        "at": at[:-6] + "Z" if at.endswith("+00:00") else at,
        "ip": None if row["ip"] is None else str(row["ip"]),
    }


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
