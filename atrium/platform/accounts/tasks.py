"""Periodic upkeep of a tenant's accounts: expired JWT records."""

from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from atrium.platform.tasks import tenant_task


@tenant_task(name="accounts.flush_expired_tokens", idempotent=True)
def flush_expired_tokens() -> int:
    """Delete the tenant's refresh-token records that have expired; returns how many.

    An expired token is refused on its own expiry, so its record (and its blacklist entry,
    which cascades from it) no longer protects anything; without this the tables only grow.
    """
    _, per_model = OutstandingToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return per_model.get(OutstandingToken._meta.label, 0)
