"""A user's TOTP authenticator, their recovery codes, and the pending second steps of
sign-ins (the ``mfa_token``s). All in the tenant's schema, so nothing crosses tenants and
a purge takes everything along."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TOTPDevice(models.Model):
    """The user's authenticator app: pending until a first code confirms it.

    ``last_step`` is the last time step (30 s) a code was accepted for, so a code is
    accepted once and never an older one (RFC 6238 §5.2)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    secret = models.CharField(max_length=64)  # base32, as the authenticator app holds it
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"TOTP of {self.user_id} ({'on' if self.is_enabled else 'pending'})"

    @property
    def is_enabled(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """One single-use recovery code, stored as an HMAC of the code (never the code)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="mfa_recovery_code_unique")
        ]

    def __str__(self) -> str:
        return f"recovery code of {self.user_id} ({'used' if self.used_at else 'unused'})"


class MfaChallenge(models.Model):
    """The second step of one sign-in: its ``mfa_token`` (stored hashed), for one user at
    one token version, until it expires, is spent or takes too many wrong codes."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_version = models.PositiveIntegerField()
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"MFA sign-in of {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
