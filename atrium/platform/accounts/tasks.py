"""Tasks of a tenant's accounts: the password-reset mail, and periodic upkeep of expired
JWT records and mailed tokens."""

from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from atrium.platform.tasks import tenant_task

from .account_tokens import account_tokens_expired_delete
from .models import UserSession
from .services import password_reset_mail


@tenant_task(name="accounts.password_reset_send")
def password_reset_send(*, email: str) -> bool:
    """Mail a reset link if an active user of the tenant has ``email`` (the request queues
    this for every address, so that it cannot tell which exist); whether one was sent."""
    return password_reset_mail(email=email)


@tenant_task(name="accounts.flush_expired_tokens", idempotent=True)
def flush_expired_tokens() -> int:
    """Delete the tenant's refresh-token records that have expired; returns how many.

    An expired token is refused on its own expiry, so its record (and its blacklist entry,
    which cascades from it) no longer protects anything; without this the tables only grow.
    The sessions whose refresh token expired, and the expired mailed tokens, go too.
    """
    now = timezone.now()
    _, per_model = OutstandingToken.objects.filter(expires_at__lt=now).delete()
    UserSession.objects.filter(expires_at__lt=now).delete()
    account_tokens_expired_delete()
    return per_model.get(OutstandingToken._meta.label, 0)
