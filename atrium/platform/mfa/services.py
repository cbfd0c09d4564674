"""MFA services: enrol a TOTP authenticator, confirm it (recovery codes), turn it off, and
the second step of a sign-in (``mfa_token`` + code → a token pair).

A code is checked against the time steps now-1, now and now+1 (30 s each: one step of
clock skew either way, no more) and only for a step later than the last one accepted for
the user, so a code is spent by its use (and so is every older one). Recovery codes are
single use, stored as HMACs. Every check of a code is counted in the login rate limits
(``accounts/throttling.py``) first.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import segno
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.request import Request

from atrium.conf import atrium_settings
from atrium.platform.accounts.models import User
from atrium.platform.accounts.throttling import enforce_login_rate
from atrium.platform.accounts.tokens import TokenPair, token_pair_issue
from atrium.platform.accounts.usercache import user_cache_invalidate
from atrium.platform.audit.services import audit_record
from atrium.tenants.context import current_tenant

from . import errors, selectors
from .models import MfaChallenge, RecoveryCode, TOTPDevice

STEP_SECONDS = 30
DIGITS = 6
# One step of clock skew either way (RFC 6238 §5.2 recommends at most one).
VALID_STEPS = (-1, 0, 1)
RECOVERY_CODE_COUNT = 10
# Lower case letters and digits without look-alikes (0/o, 1/l/i): 5 bits a character.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10  # ~49 bits; shown as xxxxx-xxxxx
RECOVERY_PURPOSE = "atrium.platform.mfa.recovery-code"
MFA_TOKEN_BYTES = 32
MAX_CODE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Enrolment:
    otpauth_uri: str
    qr_svg: str


def _step_now() -> int:
    return int(time.time()) // STEP_SECONDS


def _recovery_hash(user: User, code: str) -> str:
    return salted_hmac(RECOVERY_PURPOSE, f"{user.pk}:{code}", algorithm="sha256").hexdigest()


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


# ---------------------------------------------------------------------- enrolment
def totp_enrolment_start(*, user: User) -> Enrolment:
    """A new secret for ``user``, pending until confirmed (replacing a pending one); the
    issuer the app shows is the tenant's name. Refused while MFA is on."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and device.is_enabled:
            raise errors.MfaAlreadyEnabled()
        secret = pyotp.random_base32()
        TOTPDevice.objects.update_or_create(
            user=user, defaults={"secret": secret, "confirmed_at": None, "last_step": None}
        )
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=current_tenant().name
    )
    return Enrolment(otpauth_uri=uri, qr_svg=segno.make(uri, error="m").svg_inline(scale=4))


def totp_enrolment_confirm(*, user: User, code: str, request: Request | None = None) -> list[str]:
    """Turn MFA on with a first code of the pending authenticator; returns the 10 recovery
    codes, which are stored hashed and never shown again."""
    if request is not None:
        enforce_login_rate(request, user.email)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise errors.MfaEnrolmentNotStarted()
        if device.is_enabled:
            raise errors.MfaAlreadyEnabled()
        step = _accepted_step(device, code)
        if step is None:
            raise errors.InvalidMfaCodeInput(field="code")
        device.confirmed_at = timezone.now()
        device.last_step = step
        device.save(update_fields=["confirmed_at", "last_step"])
        codes = _recovery_codes_replace(user)
        audit_record("mfa.enabled", target=user, actor=user)
    return codes


def _recovery_codes_replace(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes: list[str] = []
    while len(codes) < RECOVERY_CODE_COUNT:
        code = _new_recovery_code()
        if code not in codes:
            codes.append(code)
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_recovery_hash(user, _normalized(code))) for code in codes
    )
    return codes


def totp_disable(*, user: User, password: str, code: str, request: Request | None = None) -> None:
    """Turn MFA off: the password and a code (TOTP or recovery) of the user. Refused while
    the tenant requires MFA of the user's role."""
    if request is not None:
        enforce_login_rate(request, user.email)
    if not selectors.mfa_enabled(user):
        raise errors.MfaNotEnabled()
    if selectors.mfa_required_for(user):
        raise errors.MfaRequiredByTenant()
    if not user.check_password(password):
        raise errors.InvalidPassword(field="password")
    with transaction.atomic():
        if second_factor_verify(user=user, code=code) is None:
            raise errors.InvalidMfaCodeInput(field="code")
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        MfaChallenge.objects.filter(user=user).delete()
        audit_record("mfa.disabled", target=user, actor=user)


# ---------------------------------------------------------------------- codes
def _accepted_step(device: TOTPDevice, code: str) -> int | None:
    """The time step ``code`` is the code of (within one step of now, later than the last
    accepted one), or None."""
    code = _normalized(code) if isinstance(code, str) else ""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(device.secret, digits=DIGITS, interval=STEP_SECONDS)
    now = _step_now()
    for step in (now + offset for offset in VALID_STEPS):
        if constant_time_compare(totp.generate_otp(step), code):
            if device.last_step is not None and step <= device.last_step:
                return None  # replayed (or older than one already used)
            return step
    return None


def second_factor_verify(*, user: User, code: str) -> str | None:
    """Spend a code of ``user``: a TOTP code (``"totp"``) or an unused recovery code
    (``"recovery"``); None when it is neither. Run inside a transaction."""
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
        return None
    device = (
        TOTPDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    )
    if device is None:
        return None
    step = _accepted_step(device, code)
    if step is not None:
        TOTPDevice.objects.filter(pk=device.pk).update(last_step=step)
        return "totp"
    spent = RecoveryCode.objects.filter(
        user=user, code_hash=_recovery_hash(user, _normalized(code)), used_at__isnull=True
    ).update(used_at=timezone.now())
    return "recovery" if spent else None


# ---------------------------------------------------------------------- sign-in
def mfa_challenge_issue(*, user: User) -> str:
    """The ``mfa_token`` of a sign-in whose password was right: random, stored hashed in
    the tenant's schema, for this user at their current token version."""
    token = secrets.token_urlsafe(MFA_TOKEN_BYTES)
    # The user's dead challenges go as a new one comes: the table stays small.
    MfaChallenge.objects.filter(
        Q(expires_at__lt=timezone.now()) | Q(used_at__isnull=False), user=user
    ).delete()
    MfaChallenge.objects.create(
        token_hash=_token_hash(token),
        user=user,
        token_version=user.token_version,
        expires_at=timezone.now() + timedelta(seconds=atrium_settings.MFA_TOKEN_TTL),
    )
    return token


def _live_challenges():
    return MfaChallenge.objects.filter(
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
        failed_attempts__lt=atrium_settings.MFA_TOKEN_MAX_ATTEMPTS,
    )


def mfa_challenge_complete(
    *, mfa_token: str, code: str, request: Request
) -> tuple[TokenPair, User]:
    """The second step: an unexpired, unspent ``mfa_token`` of this tenant and a code of
    its user → a token pair (and the user). A wrong code counts against the token (and the login rate
    limits); past ``ATRIUM_MFA_TOKEN_MAX_ATTEMPTS`` the token is dead."""
    if not isinstance(mfa_token, str) or not 20 <= len(mfa_token) <= 200:
        raise errors.MfaTokenInvalid()
    challenge = (
        _live_challenges().select_related("user").filter(token_hash=_token_hash(mfa_token)).first()
    )
    if challenge is None:
        raise errors.MfaTokenInvalid()
    user = challenge.user
    if not user.is_active or user.token_version != challenge.token_version:
        raise errors.MfaTokenInvalid()
    enforce_login_rate(request, user.email)
    with transaction.atomic():
        # Locked and checked again, so two requests with one token cannot both spend it.
        if _live_challenges().select_for_update().filter(pk=challenge.pk).first() is None:
            raise errors.MfaTokenInvalid()
        if second_factor_verify(user=user, code=code) is not None:
            MfaChallenge.objects.filter(pk=challenge.pk).update(used_at=timezone.now())
            User.objects.filter(pk=user.pk).update(last_login=timezone.now())
            user_cache_invalidate(user.pk)  # an UPDATE: no post_save to do it
            audit_record("auth.login", target=user, actor=user, metadata={"via": "api+mfa"})
            return token_pair_issue(user=user, request=request), user
    MfaChallenge.objects.filter(pk=challenge.pk).update(failed_attempts=F("failed_attempts") + 1)
    raise errors.InvalidMfaCode()
