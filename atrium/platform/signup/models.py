"""PendingSignup: a company's request for a tenant, waiting for its e-mail to be confirmed.
In the public schema (a platform table, like the tenants themselves).

Only hashes are stored: of the verification token (SHA-256; it has 256 random bits) and of
the owner's password (Django's password hasher, as the account will keep it). While a row is
pending (unconfirmed, unexpired) it holds its slug: no other sign-up may take it.
"""

import hashlib
import secrets
import uuid

from django.db import models
from django.utils import timezone


def token_new() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PendingSignup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company_name = models.CharField(max_length=200)
    slug = models.CharField(max_length=63, db_index=True)
    email = models.EmailField(max_length=254)  # canonical (accounts/emails.py)
    password_hash = models.CharField(max_length=256)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.slug} ({self.email})"

    @property
    def is_pending(self) -> bool:
        return self.confirmed_at is None and self.expires_at > timezone.now()
