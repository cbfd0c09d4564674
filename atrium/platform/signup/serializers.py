"""Sign-up serializers."""

from rest_framework import serializers

from atrium.platform.accounts.serializers import CanonicalEmailField
from atrium.platform.api.serializers import StrictFieldsMixin


class SignupSerializer(StrictFieldsMixin, serializers.Serializer):
    company_name = serializers.CharField(max_length=200, help_text="The tenant's display name.")
    slug = serializers.CharField(
        max_length=63,
        help_text="The tenant's slug, its host `<slug>.<base domain>`: 2-63 of a-z, 0-9 and "
        "'-', starting with a letter (as `tenants create`).",
    )
    email = CanonicalEmailField(max_length=254, help_text="The owner's e-mail.")
    password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
        help_text="The owner's password (checked by the password rules).",
    )


class SignupAcceptedSerializer(serializers.Serializer):
    slug = serializers.CharField()
    email = serializers.EmailField()
    expires_at = serializers.DateTimeField(help_text="Confirm before this time.")


class SignupConfirmSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=128, help_text="The token of the verification mail.")


class SignupConfirmedSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The new tenant's URL.")
    access = serializers.CharField(help_text="Access token of the owner, on the tenant's host.")
    refresh = serializers.CharField(help_text="Refresh token of the owner, single use.")
