"""What the cross-tenant suite (tests/isolation) needs of this app: a real invitation of
the tenant in scope for each route that takes an id (made without its mail)."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from atrium.platform.accounts.models import User

from ..models import Invitation, token_digest, token_new


def tenant_objects(*, owner: User, marker: str) -> dict[str, Any]:
    invitation = Invitation.objects.create(
        email=f"invited-{marker}@example.test",
        role="member",
        token_hash=token_digest(token_new()),
        invited_by=owner,
        expires_at=timezone.now() + timedelta(days=1),
    )
    return {
        "/api/v1/invitations/{id}/": invitation.pk,
        "/api/v1/invitations/{id}/resend/": invitation.pk,
    }
