"""User serializers: what the API shows of a user and what a write may set."""

from rest_framework import serializers

from atrium.platform.api.serializers import StrictFieldsMixin, iso_instant

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


def user_row(user: User) -> dict:
    """``UserSerializer(user).data`` as a plain dict, for ``users/me/`` (the hottest read):
    building a ModelSerializer's fields costs more than the rest of the view. The
    serializer stays the documented shape; a test holds the two equal."""
    last_login = user.last_login
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "date_joined": iso_instant(user.date_joined),
        "last_login": None if last_login is None else iso_instant(last_login),
    }


class UserCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    email = CanonicalEmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    password = serializers.CharField(
        required=False,
        write_only=True,
        min_length=8,
        max_length=128,
        help_text="Leave out to get a one-time password in the response (which the user "
        "must change at first use).",
    )
    must_change_password = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The given password is one-time too: the user must change it first.",
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


def _password_field(help_text: str, max_length: int = 128) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=max_length,
        style={"input_type": "password"},
        help_text=help_text,
    )


class PasswordChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    current_password = _password_field("The password you sign in with now.", 4096)
    new_password = _password_field("The new password (AUTH_PASSWORD_VALIDATORS).")


class PasswordResetSerializer(StrictFieldsMixin, serializers.Serializer):
    email = CanonicalEmailField(max_length=254, help_text="The address you sign in with.")


class PasswordResetConfirmSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=256, help_text="The token of the reset mail.")
    new_password = _password_field("The new password (AUTH_PASSWORD_VALIDATORS).")


class EmailChangeSerializer(StrictFieldsMixin, serializers.Serializer):
    new_email = CanonicalEmailField(max_length=254, help_text="The new address.")
    password = _password_field("The password you sign in with.", 4096)


class EmailConfirmSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=256, help_text="The token of the confirmation mail.")


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True, help_text="When you signed in.")
    last_used_at = serializers.DateTimeField(
        read_only=True, help_text="The last sign-in or refresh of the session."
    )
    user_agent = serializers.CharField(read_only=True)
    ip_address = serializers.IPAddressField(read_only=True, allow_null=True)
    current = serializers.SerializerMethodField(
        help_text="The session of the token this request was made with."
    )

    def get_current(self, session) -> bool:
        return str(session.pk) == self.context.get("current_session_id")


class PasswordSetSerializer(StrictFieldsMixin, serializers.Serializer):
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=128, help_text="The new password."
    )
    must_change_password = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The password is one-time: the user must change it at first use.",
    )


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True, help_text="A new access token.")
    refresh = serializers.CharField(read_only=True, help_text="A new refresh token.")


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField(read_only=True)
