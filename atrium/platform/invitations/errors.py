"""Errors of invitations, on the one error root (``atrium/errors.py``)."""

from atrium.errors import Conflict, InvalidInput, error_code


class InvitationInvalid(InvalidInput):
    """The invitation token is unknown here (mistyped, from another tenant, or replaced)."""

    code = "invitation_invalid"
    message_template = (
        "This invitation token is not valid here. Check the link, or ask for a new invitation."
    )


class InvitationExpired(InvalidInput):
    """The invitation has expired."""

    code = "invitation_expired"
    message_template = "This invitation has expired. Ask the person who invited you to resend it."


class InvitationUsed(InvalidInput):
    """The invitation was accepted already."""

    code = "invitation_used"
    message_template = "This invitation was accepted already. Sign in with its e-mail instead."


class InvitationRevoked(InvalidInput):
    """The invitation was revoked."""

    code = "invitation_revoked"
    message_template = "This invitation was revoked. Ask for a new one."


class AlreadyMember(Conflict):
    """The address already has an account in this tenant."""

    code = "already_member"
    message_template = "{email!r} already has an account here."
    data_fields = ("email",)


class AlreadyInvited(Conflict):
    """A pending invitation for the address exists; resend or revoke it instead."""

    code = "already_invited"
    message_template = (
        "{email!r} has a pending invitation already: resend it "
        "(POST /api/v1/invitations/{id}/resend/) or revoke it first."
    )
    data_fields = ("email", "id")


class InvitationNotPending(Conflict):
    """The invitation was accepted or revoked: it cannot change any more."""

    code = "invitation_not_pending"
    message_template = "This invitation is {status}: it cannot be resent or revoked."
    data_fields = ("status",)


PASSWORD_TOO_WEAK = error_code(
    400, "password_too_weak", "The password fails the password rules (AUTH_PASSWORD_VALIDATORS)."
)
