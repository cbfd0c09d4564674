"""One-time tokens that travel by mail: password reset and e-mail change.

A token is 256 random bits; only its SHA-256 is stored (``AccountToken``), in the tenant's
own schema. So a token is unknown on every other tenant, and after its tenant is purged
and re-created (a new schema). It works once, until its TTL runs out, and only while the
user's password is the one it was issued under: any change of the password (a change, a
reset, an admin's, a shell's) kills every such token of the user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from atrium.errors import InvalidInput

from .models import AccountToken, AccountTokenPurpose, User

# Longer input is refused without a lookup: ours are 43 characters.
MAX_TOKEN_LENGTH = 256


class InvalidToken(InvalidInput):
    """The token is unknown, malformed, used or no longer valid."""

    code = "invalid_token"
    message_template = (
        "This link or token is not valid: it was used already, belongs elsewhere, or the "
        "password changed since. Ask for a new one."
    )


class ExpiredToken(InvalidInput):
    """The token has expired: ask for a new one."""

    code = "token_expired"
    message_template = "This link or token has expired. Ask for a new one."


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_stamp(user: User) -> str:
    """A fingerprint of the user's password hash: it changes with every new password."""
    return hashlib.sha256(f"account-token:{user.password}".encode()).hexdigest()


def account_token_issue(
    *, user: User, purpose: AccountTokenPurpose, ttl: int, new_email: str = ""
) -> str:
    """A new token for ``user``; returns the token itself (shown once, in the mail)."""
    token = secrets.token_urlsafe(32)
    AccountToken.objects.create(
        user=user,
        purpose=purpose,
        digest=_digest(token),
        password_stamp=password_stamp(user),
        new_email=new_email,
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    return token


def account_token_redeem(*, token: str, purpose: AccountTokenPurpose) -> AccountToken:
    """The valid, unused token row (locked, with its user locked), marked used; raises
    ``InvalidToken`` or ``ExpiredToken``. Call it in the transaction that does the work,
    so a failure later in it leaves the token unused."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(field="token")
    assert transaction.get_connection().in_atomic_block, "redeem inside the work's transaction"
    row = (
        AccountToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(digest=_digest(token), purpose=purpose)
        .first()
    )
    if row is None or row.used_at is not None or not row.user.is_active:
        raise InvalidToken(field="token")
    user = User.objects.select_for_update().get(pk=row.user_id)
    if password_stamp(user) != row.password_stamp:
        raise InvalidToken(field="token")
    if row.expires_at <= timezone.now():
        raise ExpiredToken(field="token")
    row.user = user
    row.used_at = timezone.now()
    row.save(update_fields=["used_at"])
    return row


def account_tokens_expired_delete() -> int:
    """Delete the expired tokens (they protect nothing any more); returns how many."""
    stale = AccountToken.objects.filter(expires_at__lt=timezone.now())
    deleted, _ = stale.delete()
    return deleted
