"""Platform's socket auth: origin check, the ``bearer`` subprotocol, tenant-bound JWT on connect.

The stack (``config/asgi.py``) is ``OriginMiddleware(TenantMiddleware(JWTAuthMiddleware(…)))``.
``TenantMiddleware`` is the tenants door (``atrium.tenants.asgi``): it resolves the host
exactly as the HTTP router does and runs the whole connection in ``tenant_scope``. Every
middleware here extends the door's ``SocketMiddleware`` so that a refusal answers the
``bearer`` subprotocol a browser offered (it drops a socket whose handshake names none of
them) before closing with the door's close codes.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings

from atrium.platform.accounts.models import User
from atrium.platform.accounts.tokens import (
    InactiveUserError,
    RevokedTokenError,
    TenantAccessToken,
    TokenError,
    token_user,
)
from atrium.tenants import asgi
from atrium.tenants.asgi import (
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHORIZED,
    Receive,
    Scope,
    Send,
    tenant_database_sync_to_async,
)

logger = logging.getLogger(__name__)


# The subprotocol that carries the token: ``new WebSocket(url, ["bearer", token])``.
BEARER_SUBPROTOCOL = "bearer"
# No access token of ours comes near this; longer input is refused without decoding it.
MAX_TOKEN_LENGTH = 4096


def negotiated_subprotocol(scope: Scope) -> str | None:
    """``bearer`` when the client offered it: a browser drops a socket whose handshake
    answer names none of the subprotocols it asked for."""
    return BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in scope.get("subprotocols", ()) else None


async def refuse(scope: Scope, receive: Receive, send: Send, *, code: int, reason: str) -> None:
    """The tenants door's refusal, answering the ``bearer`` subprotocol when offered."""
    await asgi.refuse(
        scope, receive, send, code=code, reason=reason, subprotocol=negotiated_subprotocol(scope)
    )


class BearerSocketMiddleware(asgi.SocketMiddleware):
    """A socket middleware whose refusals answer the ``bearer`` subprotocol when offered."""

    def accepted_subprotocol(self, scope: Scope) -> str | None:
        return negotiated_subprotocol(scope)


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]


class OriginMiddleware(BearerSocketMiddleware):
    """Refuses (4403) a browser origin outside ``settings.ALLOWED_ORIGINS``, when set.

    Patterns are matched by Channels' ``OriginValidator``. A request without ``Origin``
    passes: browsers always send one, and only browsers carry the ambient credentials
    that cross-site WebSocket hijacking abuses.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = settings.ALLOWED_ORIGINS
        origins = _headers(scope, b"origin")
        if allowed and origins:
            validator = OriginValidator(None, allowed)
            if not all(validator.valid_origin(urlparse(origin)) for origin in origins):
                return await self.refuse(
                    scope, receive, send, code=CLOSE_FORBIDDEN, reason="origin_not_allowed"
                )
        return await self.inner(scope, receive, send)


class TenantMiddleware(BearerSocketMiddleware, asgi.TenantMiddleware):
    """The tenants door (``atrium.tenants.asgi.TenantMiddleware``), refusing as the others do."""


def raw_token(scope: Scope) -> str | None:
    """The token from the subprotocols (``["bearer", <token>]``) or else ``?token=``.

    The subprotocol is preferred: a query string ends up in server and proxy logs.
    """
    subprotocols = list(scope.get("subprotocols", ()))
    if BEARER_SUBPROTOCOL in subprotocols:
        position = subprotocols.index(BEARER_SUBPROTOCOL)
        return subprotocols[position + 1] if position + 1 < len(subprotocols) else None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[-1] if values else None


@tenant_database_sync_to_async
def authenticate(raw: str) -> tuple[TenantAccessToken, User]:
    """The current tenant's access token ``raw`` and its active user; else ``TokenError``."""
    token = TenantAccessToken(raw)
    return token, token_user(token)


def refusal_reason(error: TokenError) -> str:
    """The close reason (with 4401) for a token refused by ``token_user``."""
    if isinstance(error, InactiveUserError):
        return "user_inactive"
    if isinstance(error, RevokedTokenError):
        return "token_revoked"
    return "token_not_valid"


@tenant_database_sync_to_async
def revoked_reason(token: TenantAccessToken) -> str | None:
    """None while ``token`` still speaks for an active user at its version; else why not."""
    try:
        token_user(token)
    except TokenError as error:
        return refusal_reason(error)
    return None


class JWTAuthMiddleware(BearerSocketMiddleware):
    """Authenticates the socket with an access token of the current tenant (else 4401).

    Sets ``scope["user"]`` and ``scope["token"]`` (whose ``exp`` ends the connection). A
    user whose password is one-time is refused with 4403 ``password_change_required``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = raw_token(scope)
        if not raw:
            reason = "token_missing"
        elif len(raw) > MAX_TOKEN_LENGTH:
            reason = "token_not_valid"
        else:
            try:
                token, user = await authenticate(raw)
            except TokenError as error:
                reason = refusal_reason(error)
            else:
                if user.password_change_required:
                    # A one-time password opens nothing until it is changed (as on HTTP).
                    return await self.refuse(
                        scope,
                        receive,
                        send,
                        code=CLOSE_FORBIDDEN,
                        reason="password_change_required",
                    )
                return await self.inner(dict(scope, user=user, token=token), receive, send)
        return await self.refuse(scope, receive, send, code=CLOSE_UNAUTHORIZED, reason=reason)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The catch-all route: an unknown path is refused (4404) instead of crashing the router."""
    await refuse(scope, receive, send, code=CLOSE_NOT_FOUND, reason="not_found")
