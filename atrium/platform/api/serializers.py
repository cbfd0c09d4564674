"""Serializer conventions: writes that name an unknown or read-only field are refused."""

from rest_framework import serializers


class StrictFieldsMixin:
    """Refuse unknown and read-only fields in writes, so nothing is silently dropped and
    nothing outside the declared writable fields (owner, role, tenant, ids) can be set."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field cannot be set here."] for name in unknown},
                    code="unknown_field",
                )
        return super().to_internal_value(data)
