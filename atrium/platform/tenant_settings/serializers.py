"""The body of ``tenant/``: what the tenant's owners may set themselves."""

from rest_framework import serializers

from atrium.errors import AtriumError
from atrium.platform.api.serializers import StrictFieldsMixin
from atrium.tenants.cors import MAX_ORIGINS, validate_origins
from atrium.tenants.naming import validate_name


def _checked(validator, value):
    """A tenants validator's refusal as this field's 400 (its code kept)."""
    try:
        return validator(value)
    except AtriumError as error:
        raise serializers.ValidationError(error.message, code=error.code) from None


class TenantSettingsSerializer(StrictFieldsMixin, serializers.Serializer):
    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(max_length=200, help_text="The organisation's display name.")
    require_mfa_for_admins = serializers.BooleanField(
        help_text="Owners and admins must turn on MFA (TOTP) before the API serves them "
        "anything else (403 `mfa_enrolment_required`)."
    )
    cors_allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=300),
        max_length=MAX_ORIGINS,
        help_text="Browser origins allowed to call this API (CORS), as scheme://host[:port].",
    )

    def validate_name(self, value: str) -> str:
        return _checked(validate_name, value)

    def validate_cors_allowed_origins(self, value: list[str]) -> list[str]:
        return _checked(validate_origins, value)


def settings_of(tenant) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "require_mfa_for_admins": tenant.require_mfa_for_admins,
        "cors_allowed_origins": list(tenant.cors_origins),
    }
