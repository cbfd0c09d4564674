"""What the audit API shows of an entry (every field, read-only), and the filters its list
and its export take."""

import json
from collections.abc import Mapping

from django.db import connection
from django.db.models import QuerySet
from rest_framework import serializers

from atrium.platform.audit.actions import ACTIONS
from atrium.platform.audit.models import ActorType, AuditEvent

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


# ``at`` as DRF writes a datetime (``isoformat()`` in UTC with a ``Z``: microseconds only when
# there are any); every other field's JSON is its PostgreSQL text (uuid, inet) or itself.
_AT_UTC = "(e.at AT TIME ZONE 'UTC')"
_AT_SQL = (
    f"to_char({_AT_UTC}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE to_char({_AT_UTC}, 'US') "
    f"WHEN '000000' THEN '' ELSE '.' || to_char({_AT_UTC}, 'US') END || 'Z'"
)
_RENDERED_SQL = (
    "SELECT coalesce(json_agg(json_build_object({columns}) ORDER BY e.at DESC, e.id DESC), "
    "'[]')::text FROM ({entries}) e"
)


def entries_rendered(entries: QuerySet[AuditEvent]) -> list[dict]:
    """``entries`` (newest first) exactly as ``AuditEventSerializer`` renders each, in one
    SELECT whose one value PostgreSQL builds as JSON: Python decodes one string per page
    instead of converting and re-rendering every row's uuid, datetime and JSON fields (that
    per-row work was half of a page's cost)."""
    with connection.cursor() as cursor:
        cursor.execute(*rendered_statement(entries))
        return json.loads(cursor.fetchone()[0])


def rendered_statement(entries: QuerySet[AuditEvent]) -> tuple[str, tuple]:
    """The SQL and parameters of ``entries_rendered`` (its benchmark EXPLAINs them)."""
    columns = ", ".join(
        f"'{name}', " + (_AT_SQL if name == "at" else f"e.{connection.ops.quote_name(name)}")
        for name in FIELDS
    )
    sql, params = entries.values(*FIELDS).query.sql_with_params()
    return _RENDERED_SQL.format(columns=columns, entries=sql), params


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = FIELDS
        read_only_fields = FIELDS


class AuditFilterSerializer(serializers.Serializer):
    """The log's filters, defined once: the list's query parameters, the export's body and
    their OpenAPI documentation. Each field's ``source`` is the lookup its value filters
    by, so ``validated_data`` is what ``selectors.audit_event_list(filters=…)`` takes. An
    empty value (``?action=``) filters nothing."""

    actor = serializers.CharField(
        source="actor_id",
        required=False,
        allow_blank=True,
        help_text="The actor's id (a user's or an API key's id).",
    )
    actor_type = serializers.ChoiceField(choices=ActorType.choices, required=False)
    action = serializers.ChoiceField(
        # Names, not (name, label) pairs: the serializer deep-copies its fields on every
        # request, and that copy of 38 pairs was most of a filtered list's overhead.
        choices=list(ACTIONS),
        required=False,
        help_text="One of the published actions.",
    )
    target_type = serializers.CharField(
        required=False, allow_blank=True, help_text="`app.model`, such as `catalog.product`."
    )
    target_id = serializers.CharField(required=False, allow_blank=True)
    since = serializers.DateTimeField(
        source="at__gte", required=False, help_text="Entries at or after (ISO 8601)."
    )
    until = serializers.DateTimeField(
        source="at__lt", required=False, help_text="Entries before (ISO 8601)."
    )

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            # Only this serializer's names, and not the empty ones: a query string carries
            # every other parameter (cursor, page_size) too.
            data = {name: data.get(name) for name in self.fields if _given(data, name)}
        return super().to_internal_value(data)


def _given(data: Mapping, name: str) -> bool:
    return data.get(name) not in ("", None)


def audit_filters(data: Mapping) -> dict:
    """``data``'s filters (a query string, or an export's), validated: the lookups they
    stand for (``{"action": …, "at__gte": …}``); an invalid value raises a 400 with the
    field's code (``invalid``, ``invalid_choice``)."""
    if not any(_given(data, name) for name in AuditFilterSerializer._declared_fields):
        return {}  # no filter: no serializer to build (the newest page's common case)
    filters = AuditFilterSerializer(data=data)
    filters.is_valid(raise_exception=True)
    return dict(filters.validated_data)


EXPORT_FORMATS = ("ndjson", "csv")


class AuditExportSerializer(AuditFilterSerializer):
    """The export's body: a format, and the list's filters (the same names, values, errors)."""

    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        default="ndjson",
        help_text="`ndjson`: one JSON object per line; `csv`: one row per entry, `changes` "
        "and `metadata` as JSON cells.",
    )
