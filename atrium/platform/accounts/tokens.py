"""JSON web tokens that belong to one tenant: its own signing key and a tenant claim.

A token is signed with a key derived from ``SECRET_KEY`` and the tenant's id, and carries
the tenant's id in ``settings.ATRIUM_JWT_TENANT_CLAIM``. Both are checked against
``current_tenant()`` on every decode, so a token minted on one tenant is refused on every
other one, even if a key leaks or a claim is forged. simplejwt's process-wide backend
(``rest_framework_simplejwt.state.token_backend``, signed with ``SIGNING_KEY``) is never
used: every token class here picks its tenant's backend itself.

The functions at the bottom are the token life cycle (issue, rotate, revoke, verify);
they raise simplejwt's ``TokenError``, which the auth API turns into a 401.

Revocation: every token also carries its user's ``token_version`` (claim
``settings.ATRIUM_JWT_VERSION_CLAIM``), and ``token_user`` compares it with the user's row,
which authenticating a request or a socket reads anyway (from the user cache,
``usercache.py``, with no SQL once warm). ``user_tokens_revoke`` raises the version
(logout, deactivation, role or password change) in the caller's transaction, so every
access and refresh token issued before stops working the moment it commits (and its
cache bump reaches Redis), in every process; the user's open sockets are closed (4401)
after the commit. A revoked session (``session_revoke``) ends its own tokens only: its
refresh token is blacklisted, and its access tokens are refused at once, because the user's
entry lists the sessions revoked within an access token's lifetime.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token, UntypedToken
from rest_framework_simplejwt.utils import aware_utcnow

from atrium.conf import atrium_settings
from atrium.platform.api.throttling import client_ip
from atrium.platform.audit.services import audit_record
from atrium.tenants.asgi import CLOSE_UNAUTHORIZED
from atrium.tenants.context import current_tenant, current_tenant_or_none
from atrium.tenants.sockets import close_sockets, session_group, user_group

from .models import User, UserSession
from .usercache import cached_user, user_cache_invalidate

# Fixed on purpose: a token naming any other algorithm (``none``, HS512, RS256, …) in its
# header is refused, because PyJWT only accepts the algorithms the backend lists.
ALGORITHM = "HS256"
SIGNING_KEY_PURPOSE = "atrium.platform.accounts.tokens.tenant-signing-key"
# The claim naming the session (``UserSession``) of a refresh token and its access tokens.
SESSION_CLAIM = "sid"


def signing_key_for(tenant_id: object, *, secret_key: str | None = None) -> str:
    """The tenant's signing key: HMAC-SHA256 of its id, keyed by SECRET_KEY and a purpose."""
    secret = settings.SECRET_KEY if secret_key is None else secret_key
    return salted_hmac(
        SIGNING_KEY_PURPOSE, str(tenant_id), secret=secret, algorithm="sha256"
    ).hexdigest()


@functools.lru_cache(maxsize=4096)
def _tenant_backend(tenant_id: str, secret_key: str) -> TokenBackend:
    # Keyed by the secret too, so a changed SECRET_KEY never reuses a stale backend.
    return TokenBackend(
        ALGORITHM,
        signing_key=signing_key_for(tenant_id, secret_key=secret_key),
        audience=api_settings.AUDIENCE,
        issuer=api_settings.ISSUER,
        leeway=api_settings.LEEWAY,
        json_encoder=api_settings.JSON_ENCODER,
    )


def token_backend_for(tenant_id: object) -> TokenBackend:
    """The (cached) backend that signs and verifies the tokens of one tenant."""
    return _tenant_backend(str(tenant_id), settings.SECRET_KEY)


class TenantBoundMixin:
    """Binds a token to the tenant that is current when it is built or decoded.

    The tenant is fixed at construction, so a token minted in a tenant scope can still be
    encoded (``str(token)``) after the scope has ended, and always with that tenant's key.
    """

    payload: dict[str, Any]

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        self.tenant_id = str(current_tenant().id)
        super().__init__(token, verify)  # type: ignore[call-arg]
        if token is None:
            self.payload[atrium_settings.JWT_TENANT_CLAIM] = self.tenant_id

    @property
    def token_backend(self) -> TokenBackend:
        return token_backend_for(self.tenant_id)

    def get_token_backend(self) -> TokenBackend:
        return token_backend_for(self.tenant_id)

    def verify(self) -> None:
        # Before simplejwt's checks, so a foreign token costs no blacklist query.
        self.check_tenant()
        super().verify()  # type: ignore[misc]

    def check_tenant(self) -> None:
        claimed = self.payload.get(atrium_settings.JWT_TENANT_CLAIM)
        if claimed is None:
            raise TokenError("Token belongs to no tenant")
        if str(claimed) != self.tenant_id:
            raise TokenError("Token belongs to another tenant")


class TenantAccessToken(TenantBoundMixin, AccessToken):
    """An access token of the current tenant (the only kind that authenticates requests)."""

    @classmethod
    def verified(cls, raw: str | bytes) -> TenantAccessToken:
        """``cls(raw)``, whose signature and fixed claims this process checks once per
        token (``_VerifiedTokens``) and whose expiry it checks on every call."""
        tenant_id = str(current_tenant().id)
        key = (tenant_id, settings.SECRET_KEY, raw)
        payload = _verified_tokens.get(key)
        if payload is not None:
            token = cls.__new__(cls)
            token.tenant_id, token.token, token.payload = tenant_id, raw, dict(payload)
            token.current_time = aware_utcnow()
            try:
                token.check_exp()
                return token
            except TokenError:  # expired since: verified again, for the usual error
                _verified_tokens.forget(key)
        token = cls(raw)
        _verified_tokens.keep(key, token.payload)
        return token

    @classmethod
    def for_user(cls, user: User) -> TenantAccessToken:
        token = super().for_user(user)
        token[atrium_settings.JWT_VERSION_CLAIM] = user.token_version
        return token


class _VerifiedTokens:
    """Payloads of access tokens this process verified, by (tenant, secret, token text).

    Verifying a token (PyJWT's checks of its text, the HMAC) costs as much as a Redis round
    trip; the same token comes back on every request of its client. Only the exact text
    verified finds its payload, under the tenant and key it was verified with, so nothing
    is trusted that was not checked; the expiry is checked on every use (``verified``).
    Least recently used first out.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._payloads: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict[str, Any] | None:
        with self._lock:
            payload = self._payloads.get(key)
            if payload is not None:
                self._payloads.move_to_end(key)
            return payload

    def keep(self, key: tuple, payload: dict[str, Any]) -> None:
        with self._lock:
            self._payloads[key] = dict(payload)
            while len(self._payloads) > self.size:
                self._payloads.popitem(last=False)

    def forget(self, key: tuple) -> None:
        with self._lock:
            self._payloads.pop(key, None)


_verified_tokens = _VerifiedTokens()


class TenantRefreshToken(TenantBoundMixin, RefreshToken):
    """A refresh token of the current tenant; recorded as outstanding when issued.

    Its access tokens copy its claims, the token version included."""

    access_token_class = TenantAccessToken

    @classmethod
    def for_user(cls, user: User) -> TenantRefreshToken:
        token = super().for_user(user)
        token[atrium_settings.JWT_VERSION_CLAIM] = user.token_version
        return token

    @property
    def access_token(self) -> TenantAccessToken:
        return super().access_token  # type: ignore[return-value]


class TenantUntypedToken(TenantBoundMixin, UntypedToken):
    """Any token of the current tenant, whatever its type (for the verify endpoint)."""


class InactiveUserError(TokenError):
    """The token is sound but its user no longer exists here or is deactivated."""


class RevokedTokenError(TokenError):
    """The token was issued before its user logged out or changed password or role, or its
    session was revoked."""


def token_version(token: Token) -> int:
    """The user's token version the token was issued under (0: issued before versions)."""
    value = token.get(atrium_settings.JWT_VERSION_CLAIM, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError("Token has a malformed version")
    return value


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str


def token_user(token: Token) -> User:
    """The active user a token speaks for, in the current tenant (``usercache.py``: from
    its cached entry, else its schema). An access token of a revoked session is refused; a
    refresh token's session is the blacklist's to judge (``token_pair_rotate``)."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if not user_id:
        raise TokenError("Token names no user")
    try:
        user, revoked_sessions = cached_user(user_id)
    except (ValidationError, ValueError):
        user = None
    if user is None:
        raise InactiveUserError("The account of this token no longer exists")
    if not user.is_active:
        raise InactiveUserError("The account of this token is deactivated")
    if token_version(token) != user.token_version:
        raise RevokedTokenError("The token was revoked (sign-out, or a change of password or role)")
    if (
        token.get(api_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type
        and session_id_of(token) in revoked_sessions
    ):
        raise RevokedTokenError("The token's session was revoked")
    return user


def user_tokens_revoke(*, user: User, reason: str, version: int | None = None) -> bool:
    """Revoke every access and refresh token of ``user`` and close its open sockets.

    Raises the user's token version in the caller's transaction (the tokens stop working
    when it commits) and, after the commit, closes the user's sockets with 4401 and
    ``reason``. With ``version``, only if the user is still at that version (a stale token
    cannot sign everybody out); returns whether it revoked. ``user.token_version`` is
    updated in place.
    """
    users = User.objects.filter(pk=user.pk)
    if version is not None:
        users = users.filter(token_version=version)
    with transaction.atomic():
        if not users.update(token_version=F("token_version") + 1):
            return False
        user.token_version = User.objects.values_list("token_version", flat=True).get(pk=user.pk)
        user_cache_invalidate(user.pk)
        close_sockets(user_group(user.pk), code=CLOSE_UNAUTHORIZED, reason=reason)
    return True


def _client_of(request: HttpRequest | None) -> dict[str, Any]:
    if request is None:
        return {}
    address = client_ip(request)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        address = None
    # PostgreSQL text cannot hold NUL: a header carrying one must not fail the sign-in.
    agent = request.META.get("HTTP_USER_AGENT", "").replace("\x00", "")
    return {"user_agent": agent[:512], "ip_address": address}


def _session_token(user: User, session: UserSession) -> TenantRefreshToken:
    """A new refresh token of ``session``, which records it as the session's current one."""
    refresh = TenantRefreshToken.for_user(user)
    refresh[SESSION_CLAIM] = str(session.pk)
    session.refresh_jti = refresh[api_settings.JTI_CLAIM]
    session.expires_at = datetime.fromtimestamp(refresh["exp"], tz=UTC)
    session.token_version = user.token_version
    return refresh


def token_pair_issue(*, user: User, request: HttpRequest | None = None) -> TokenPair:
    """A new access + refresh pair for ``user`` in the current tenant (refresh recorded),
    starting a new session (``UserSession``); ``request`` gives its user agent and IP."""
    session = UserSession(user=user, **_client_of(request))
    refresh = _session_token(user, session)
    session.save(force_insert=True)
    return TokenPair(access=str(refresh.access_token), refresh=str(refresh))


def _refresh_token_spend(token: TenantRefreshToken) -> None:
    """Blacklist ``token`` so that exactly one caller can ever spend it.

    simplejwt's ``blacklist()`` uses ``get_or_create`` and raises nothing when the token is
    already blacklisted, so two concurrent refreshes would both succeed. Here the
    outstanding row is locked first; a second caller waits for the first to commit, then
    finds the blacklist entry and fails. Must run inside ``transaction.atomic``.
    """
    jti = token[api_settings.JTI_CLAIM]
    try:
        # of=self: the model's default ordering joins the user table, which cannot be locked.
        outstanding = OutstandingToken.objects.select_for_update(of=("self",)).get(jti=jti)
    except OutstandingToken.DoesNotExist:
        # Every refresh token we issue is recorded; an unknown one was not issued here.
        raise TokenError("Token is not known") from None
    if BlacklistedToken.objects.filter(token=outstanding).exists():
        raise TokenError("Token is blacklisted")
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:  # blacklisted by a path that does not take the lock
        raise TokenError("Token is blacklisted") from None


def token_pair_rotate(*, refresh: str, request: HttpRequest | None = None) -> TokenPair:
    """Spend a refresh token of the current tenant and issue a fresh pair in its place, in
    the same session (a token of a revoked session is refused)."""
    token = TenantRefreshToken(refresh)
    user = token_user(token)
    with transaction.atomic():
        _refresh_token_spend(token)
        session = _token_session(token, lock=True)
        if session is None:  # issued before sessions were recorded
            return token_pair_issue(user=user, request=request)
        if session.revoked_at is not None:
            raise TokenError("Token is blacklisted")
        fresh = _session_token(user, session)
        session.last_used_at = timezone.now()
        for field, value in _client_of(request).items():
            setattr(session, field, value)
        session.save()
        return TokenPair(access=str(fresh.access_token), refresh=str(fresh))


def _token_session(token: Token, *, lock: bool = False) -> UserSession | None:
    session_id = token.get(SESSION_CLAIM)
    if not session_id:
        return None
    sessions = UserSession.objects.filter(user_id=token.get(api_settings.USER_ID_CLAIM))
    if lock:
        sessions = sessions.select_for_update()
    try:
        return sessions.filter(pk=session_id).first()
    except (ValidationError, ValueError):
        return None


def session_id_of(token: Token | None) -> str | None:
    """The session a token (access or refresh) belongs to, if it names one."""
    if token is None:
        return None
    value = token.get(SESSION_CLAIM)
    return str(value) if value else None


def session_revoke(*, user: User, session_id: object) -> None:
    """Revoke one of ``user``'s sessions: its current refresh token is blacklisted, and its
    access tokens are refused from the commit on (``token_user``: the user's cached entry
    is read again, with the session among the revoked). Another user's session, or an
    unknown one, is ``UserSession.DoesNotExist``."""
    with transaction.atomic():
        session = UserSession.objects.select_for_update().get(pk=session_id, user=user)
        if session.revoked_at is None:
            session.revoked_at = timezone.now()
            session.save(update_fields=["revoked_at"])
            user_cache_invalidate(user.pk)
            # Sockets opened with its access tokens close too (others of the user stay).
            close_sockets(
                session_group(session.pk), code=CLOSE_UNAUTHORIZED, reason="token_revoked"
            )
        outstanding = OutstandingToken.objects.filter(jti=session.refresh_jti).first()
        if outstanding is not None:
            BlacklistedToken.objects.get_or_create(token=outstanding)


def user_tokens_revoke_in_tenant(*, user: User, reason: str) -> None:
    """``user_tokens_revoke`` when a tenant is active; nothing for the public schema's
    operators, who hold no tokens (they use the platform admin's sessions)."""
    if current_tenant_or_none() is not None:
        user_tokens_revoke(user=user, reason=reason)


def refresh_token_revoke(*, refresh: str) -> None:
    """Log out: blacklist a refresh token of the current tenant (deactivated users too) and,
    if it is still current, revoke every token of its user and close the user's sockets."""
    token = TenantRefreshToken(refresh)
    with transaction.atomic():
        _refresh_token_spend(token)
        user = User.objects.filter(
            **{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}
        ).first()
        if user is not None:
            user_tokens_revoke(user=user, reason="logged_out", version=token_version(token))
            audit_record("auth.logout", target=user, actor=user)


def token_verify(*, token: str) -> TenantUntypedToken:
    """A token of the current tenant, not blacklisted, whose user is active; else TokenError."""
    verified = TenantUntypedToken(token)
    jti = verified.get(api_settings.JTI_CLAIM)
    if BlacklistedToken.objects.filter(token__jti=jti).exists():
        raise TokenError("Token is blacklisted")
    token_user(verified)
    return verified
