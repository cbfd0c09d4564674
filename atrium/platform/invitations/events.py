"""Invitation events, declared here (imported by InvitationsConfig.ready()) and published by
the invitation services after commit."""

from __future__ import annotations

from atrium.platform.accounts.models import Role
from atrium.platform.events import declare, publish

from .models import Invitation

INVITATION_ACCEPTED = declare(
    "invitation.accepted",
    schema={
        "type": "object",
        "properties": {
            "email": {"type": "string"},
            "role": {"type": "string", "enum": list(Role.values)},
            "user_id": {"type": "string"},
            "invited_by": {"type": ["string", "null"]},
        },
        "required": ["email", "role", "user_id", "invited_by"],
        "additionalProperties": False,
    },
    description="An invitation was accepted: its address joined the tenant with the invited "
    "role as the user `user_id`.",
)


def invitation_accepted(invitation: Invitation) -> None:
    publish(
        INVITATION_ACCEPTED,
        id=str(invitation.pk),
        data={
            "email": invitation.email,
            "role": invitation.role,
            "user_id": str(invitation.user_id),
            "invited_by": str(invitation.invited_by_id) if invitation.invited_by_id else None,
        },
    )
