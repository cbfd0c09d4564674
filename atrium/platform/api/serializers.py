"""Serializer conventions: writes that name an unknown or read-only field are refused, and
text fields take text."""

from django.utils import timezone
from rest_framework import serializers


def iso_instant(value) -> str:
    """DRF's ISO 8601 rendering of an aware datetime in the current time zone, for read
    paths that build plain dicts instead of walking a serializer's fields."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _is_text(field: serializers.Field) -> bool:
    return isinstance(field, serializers.CharField)


class StrictFieldsMixin:
    """Refuse unknown and read-only fields in writes, so nothing is silently dropped and
    nothing outside the declared writable fields (owner, role, tenant, ids) can be set; and
    refuse a number or a boolean where text is expected (DRF would store ``42`` as "42")."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field cannot be set here."] for name in unknown},
                    code="unknown_field",
                )
            not_text = sorted(
                name
                for name, value in data.items()
                if not self._text_or_null(self.fields[name], value)
            )
            if not_text:
                raise serializers.ValidationError(
                    {name: ["Give text (a JSON string)."] for name in not_text}, code="invalid"
                )
        return super().to_internal_value(data)

    @staticmethod
    def _text_or_null(field: serializers.Field, value) -> bool:
        if _is_text(field):
            return value is None or isinstance(value, str)
        if isinstance(field, serializers.ListField) and _is_text(field.child):
            return not isinstance(value, list) or all(isinstance(item, str) for item in value)
        return True
