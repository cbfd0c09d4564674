"""Tasks of a tenant's accounts: the password-reset mail, and periodic upkeep of expired
JWT records and mailed tokens."""

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from atrium.conf import atrium_settings
from atrium.platform.mail import mail_send_on_commit, tenant_link
from atrium.platform.tasks import tenant_task

from .account_tokens import account_token_issue, account_tokens_expired_delete
from .models import AccountTokenPurpose, User, UserSession


@tenant_task(name="accounts.password_reset_send")
def password_reset_send(*, email: str) -> bool:
    """Mail a reset link if an active user of the tenant has ``email`` (the request queues
    this for every address, so that it cannot tell which exist); whether one was sent."""
    user = User.objects.filter(email=User.objects.normalize_email(email), is_active=True).first()
    if user is None:
        return False
    with transaction.atomic():
        token = account_token_issue(
            user=user,
            purpose=AccountTokenPurpose.PASSWORD_RESET,
            ttl=atrium_settings.PASSWORD_RESET_TTL,
        )
        mail_send_on_commit(
            to=user.email,
            template="accounts/password_reset",
            context={
                "name": user.name,
                "token": token,
                "link": tenant_link("reset-password", token),
                "ttl_minutes": atrium_settings.PASSWORD_RESET_TTL // 60,
            },
        )
    return True


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
