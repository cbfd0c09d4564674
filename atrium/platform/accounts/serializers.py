"""User serializers: what the API shows of a user and what a write may set."""

from rest_framework import serializers

from atrium.platform.api.serializers import StrictFieldsMixin

from .emails import MAX_RAW_LENGTH, canonical_email
from .models import Role, User


class CanonicalEmailField(serializers.EmailField):
    """An e-mail in its canonical form (``emails.py``), validated after normalising: the
    form the account is stored, looked up and rate-limited under."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > MAX_RAW_LENGTH:
            self.fail("max_length", max_length=self.max_length)
        return canonical_email(value)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "is_active", "date_joined", "last_login"]
        read_only_fields = fields


class UserCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    email = CanonicalEmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    password = serializers.CharField(
        required=False,
        write_only=True,
        min_length=8,
        max_length=128,
        help_text="Leave out to get a one-time password in the response.",
    )


class UserCreatedSerializer(UserSerializer):
    one_time_password = serializers.CharField(
        allow_null=True, help_text="Shown once, when no password was given."
    )

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "one_time_password"]
        read_only_fields = fields


class UserUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class ProfileUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class PasswordChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    current_password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=4096,
        help_text="The password you sign in with now.",
    )
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=128, help_text="The new password."
    )


class PasswordSetSerializer(StrictFieldsMixin, serializers.Serializer):
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=128, help_text="The new password."
    )


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True, help_text="A new access token.")
    refresh = serializers.CharField(read_only=True, help_text="A new refresh token.")
