"""Invitations of a tenant: invite an address with a role, resend, revoke, accept.

Only owners and admins invite, and only owners invite owners (the rule of user management,
``accounts.services``). An address with an account gets 409 ``already_member``; one with a
pending invitation gets 409 ``already_invited`` (resend or revoke that one instead: there is
never more than one live link per address). Resending makes a new token (the old one is
dead) and a new expiry. Accepting makes the account through ``accounts.services.user_create``
with the inviter as the actor, so the seat quota (403 ``quota_exceeded``) and the role rules
apply as they stand at acceptance: an invitation is worth what its inviter may still grant.
Creating, revoking and accepting are audited (``invitation.created|revoked|accepted``, in
the write's transaction); accepting publishes ``invitation.accepted`` after commit.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.errors import InvalidInput, PermissionDenied
from atrium.platform.accounts.emails import canonical_email
from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.services import user_create
from atrium.platform.audit.services import audit_record
from atrium.platform.mail import mail_send_on_commit, tenant_link
from atrium.tenants.quotas import quota_check

from . import errors, events
from .models import Invitation, InvitationStatus, token_digest, token_new

ACCEPT_PATH = "accept-invitation"


def _check_may_invite(actor: User, role: str) -> None:
    if actor.role not in (Role.OWNER, Role.ADMIN):
        raise PermissionDenied("Only owners and admins may invite.")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only owners may invite owners.")


def _may_invite(actor: User, role: str) -> bool:
    try:
        _check_may_invite(actor, role)
    except PermissionDenied:
        return False
    return True


def _ensure_not_member(email: str) -> None:
    # Canonical e-mails are stored and compared: a case variant is the same account.
    if User.objects.filter(email=email).exists():
        raise errors.AlreadyMember(email=email)


def _lock_address(email: str) -> None:
    """Serialise invitations of one address (until the transaction ends): two concurrent
    invitations cannot both find none pending."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"invitation:{email}"])


def _send(invitation: Invitation, token: str, inviter: User | None) -> None:
    mail_send_on_commit(
        to=invitation.email,
        template="invitations/invite",
        context={
            "link": tenant_link(ACCEPT_PATH, token),
            "token": token,
            "role": invitation.role,
            "inviter": (inviter.name or inviter.email) if inviter is not None else "",
            "expires_at": invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        },
    )


def _new_token(invitation: Invitation) -> str:
    token = token_new()
    invitation.token_hash = token_digest(token)
    invitation.expires_at = timezone.now() + timedelta(seconds=atrium_settings.INVITATION_TTL)
    return token


@transaction.atomic
def invitation_create(*, actor: User, email: str, role: str = Role.MEMBER) -> Invitation:
    _check_may_invite(actor, role)
    email = canonical_email(email)
    _lock_address(email)
    _ensure_not_member(email)
    pending = (
        Invitation.objects.filter(
            email=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .values_list("id", flat=True)
        .first()
    )
    if pending is not None:
        raise errors.AlreadyInvited(email=email, id=pending)
    quota_check("seats")  # early answer; accepting takes the seat (user_create)
    invitation = Invitation(email=email, role=role, invited_by=actor)
    token = _new_token(invitation)
    invitation.full_clean()
    invitation.save()
    audit_record("invitation.created", target=invitation, metadata={"role": role})
    _send(invitation, token, actor)
    return invitation


def _lock_open(*, actor: User, invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    _check_may_invite(actor, invitation.role)
    if invitation.status in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED):
        raise errors.InvitationNotPending(status=invitation.status)
    return invitation


@transaction.atomic
def invitation_resend(*, actor: User, invitation: Invitation) -> Invitation:
    """A new token and expiry (the old token is dead at once), mailed again. Works on an
    expired invitation too."""
    invitation = _lock_open(actor=actor, invitation=invitation)
    _ensure_not_member(invitation.email)
    token = _new_token(invitation)
    invitation.save(update_fields=["token_hash", "expires_at"])
    _send(invitation, token, actor)
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    invitation = _lock_open(actor=actor, invitation=invitation)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record("invitation.revoked", target=invitation, metadata={"role": invitation.role})
    return invitation


def invitation_find(token: str) -> Invitation:
    """The invitation of ``token`` if it can still be accepted; else the error saying why.
    Locks the row: call it inside a transaction."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("invited_by")
        .filter(token_hash=token_digest(token))
        .first()
    )
    if invitation is None:
        raise errors.InvitationInvalid()
    status = invitation.status
    if status == InvitationStatus.REVOKED:
        raise errors.InvitationRevoked()
    if status == InvitationStatus.ACCEPTED:
        raise errors.InvitationUsed()
    if status == InvitationStatus.EXPIRED:
        raise errors.InvitationExpired()
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, name: str, password: str) -> User:
    """Make the invited account with ``password`` and the invited role; the invitation is
    spent in the same transaction, so it works once."""
    invitation = invitation_find(token)
    _ensure_not_member(invitation.email)
    try:
        validate_password(password, user=User(email=invitation.email, name=name))
    except ValidationError as exc:
        raise InvalidInput(
            " ".join(exc.messages), code=errors.PASSWORD_TOO_WEAK, field="password"
        ) from None
    inviter = invitation.invited_by
    if inviter is None or not inviter.is_active or not _may_invite(inviter, invitation.role):
        raise errors.InvitationInvalid(
            "This invitation is no longer valid: its sender may no longer invite to this "
            "role. Ask for a new invitation."
        )
    created = user_create(
        actor=inviter, email=invitation.email, name=name, role=invitation.role, password=password
    )
    invitation.accepted_at = timezone.now()
    invitation.user = created.user
    invitation.save(update_fields=["accepted_at", "user"])
    # Nobody is signed in yet: the new account is who acted.
    audit_record(
        "invitation.accepted",
        target=invitation,
        actor=created.user,
        metadata={"role": invitation.role, "user_id": str(created.user.pk)},
    )
    events.invitation_accepted(invitation)
    return created.user
