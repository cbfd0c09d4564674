"""Invitation serializers: what the API shows of an invitation (never its token) and what
a write may set."""

from rest_framework import serializers

from atrium.platform.accounts.models import Role
from atrium.platform.accounts.serializers import CanonicalEmailField
from atrium.platform.api.serializers import StrictFieldsMixin

from .models import Invitation, InvitationStatus


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = fields


class InvitationCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    email = CanonicalEmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationAcceptSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=128, help_text="The token of the invitation mail.")
    name = serializers.CharField(max_length=200, allow_blank=True, default="")
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=128, style={"input_type": "password"}
    )
