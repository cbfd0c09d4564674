"""Bodies of the MFA API."""

from rest_framework import serializers

CODE_HELP = "A 6-digit code of the authenticator app, or an unused recovery code."


class EnrolmentSerializer(serializers.Serializer):
    otpauth_uri = serializers.CharField(
        help_text="The otpauth:// URI of the new secret (issuer: the tenant's name)."
    )
    qr_svg = serializers.CharField(help_text="The URI as a QR code, an inline SVG element.")


class ConfirmSerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=64, help_text="The current 6-digit code of the authenticator app."
    )


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text="10 single-use recovery codes, shown this once (stored hashed).",
    )


class DisableSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )
    code = serializers.CharField(max_length=64, help_text=CODE_HELP)


class TokenMfaSerializer(serializers.Serializer):
    mfa_token = serializers.CharField(
        write_only=True, max_length=200, help_text="The mfa_token of the 401 mfa_required."
    )
    code = serializers.CharField(write_only=True, max_length=64, help_text=CODE_HELP)
    access = serializers.CharField(read_only=True, help_text="Access token (Bearer).")
    refresh = serializers.CharField(read_only=True, help_text="Refresh token, single use.")
    password_change_required = serializers.BooleanField(
        read_only=True,
        help_text="As in the first step's answer: the password is one-time and must be "
        "changed first (POST /api/v1/auth/password/change/).",
    )
