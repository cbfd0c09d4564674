"""What invitations hold about a person: those they sent, and those addressed to them (to
their e-mail, or the one whose acceptance made their account). Erasure revokes those still
pending and replaces their e-mail on every one addressed to them; the ones they sent stay,
pointing to the anonymised account."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from atrium.platform.privacy.registry import erased_email

from .models import Invitation


def _addressed_to(user) -> Q:
    return Q(user=user) | Q(email=user.email)


def _as_dict(invitation: Invitation) -> dict:
    return {
        "id": str(invitation.pk),
        "email": invitation.email,
        "role": invitation.role,
        "status": invitation.status,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
        "accepted_at": invitation.accepted_at.isoformat() if invitation.accepted_at else None,
        "revoked_at": invitation.revoked_at.isoformat() if invitation.revoked_at else None,
    }


def collect_invitations(user) -> dict:
    ordered = Invitation.objects.order_by("created_at", "id")
    return {
        "sent": [_as_dict(i) for i in ordered.filter(invited_by=user)],
        "received": [_as_dict(i) for i in ordered.filter(_addressed_to(user))],
    }


def erase_invitations(user) -> dict[str, int]:
    addressed = Invitation.objects.filter(_addressed_to(user))
    revoked = addressed.filter(accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return {"revoked": revoked, "anonymised": addressed.update(email=erased_email(user))}
