"""The WebSocket doors: origin check, tenant from ``Host``, tenant-bound JWT on connect.

The stack (``config/asgi.py``) is ``OriginMiddleware(TenantMiddleware(JWTAuthMiddleware(…)))``.
``TenantMiddleware`` resolves the host exactly as the HTTP router does and runs the whole
connection in ``tenant_scope``; every database call a socket makes goes through
``tenant_database_sync_to_async``, which enters the tenant's scope again on the worker
thread, because that thread's connection serves every socket and request in turn.

A refused socket is accepted and then closed with an application close code: closing
before the handshake makes the server answer a bare HTTP 403, and a browser sees only
1006, unable to tell an expired token (4401: get a new one) from a suspended tenant (4403).
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest

from atrium.platform.accounts.models import User
from atrium.platform.accounts.tokens import (
    InactiveUserError,
    RevokedTokenError,
    TenantAccessToken,
    TokenError,
    token_user,
)
from atrium.tenants.context import current_tenant, tenant_scope
from atrium.tenants.routing import normalize_host, resolve_host
from atrium.tenants.sockets import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_UNAUTHORIZED

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# The subprotocol that carries the token: ``new WebSocket(url, ["bearer", token])``.
BEARER_SUBPROTOCOL = "bearer"
# No access token of ours comes near this; longer input is refused without decoding it.
MAX_TOKEN_LENGTH = 4096


def tenant_database_sync_to_async[**P, R](func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``database_sync_to_async`` that runs ``func`` in the caller's tenant scope.

    The scope's ContextVar reaches the worker thread, but that thread's database connection
    still points at whichever schema it served last; entering ``tenant_scope`` there (and
    leaving it in ``finally``) is what makes the SQL run in the right schema. Raises
    ``NoTenantError`` when the caller has no tenant.
    """

    @functools.wraps(func)
    def in_tenant_scope(*args: P.args, **kwargs: P.kwargs) -> R:
        with tenant_scope(current_tenant()):
            return func(*args, **kwargs)

    return database_sync_to_async(in_tenant_scope)


def negotiated_subprotocol(scope: Scope) -> str | None:
    """``bearer`` when the client offered it: a browser drops a socket whose handshake
    answer names none of the subprotocols it asked for."""
    return BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in scope.get("subprotocols", ()) else None


async def refuse(scope: Scope, receive: Receive, send: Send, *, code: int, reason: str) -> None:
    """Complete the handshake, then close with ``code`` and a machine-readable ``reason``."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client left before the handshake
    await send({"type": "websocket.accept", "subprotocol": negotiated_subprotocol(scope)})
    await send({"type": "websocket.close", "code": code, "reason": reason})


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name]


class OriginMiddleware:
    """Refuses (4403) a browser origin outside ``settings.ALLOWED_ORIGINS``, when set.

    Patterns are matched by Channels' ``OriginValidator``. A request without ``Origin``
    passes: browsers always send one, and only browsers carry the ambient credentials
    that cross-site WebSocket hijacking abuses.
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = settings.ALLOWED_ORIGINS
        origins = _headers(scope, b"origin")
        if allowed and origins:
            validator = OriginValidator(None, allowed)
            if not all(validator.valid_origin(urlparse(origin)) for origin in origins):
                return await refuse(
                    scope, receive, send, code=CLOSE_FORBIDDEN, reason="origin_not_allowed"
                )
        return await self.inner(scope, receive, send)


def request_host(scope: Scope) -> str | None:
    """The normalized host of a handshake, read exactly as for an HTTP request; None if invalid.

    The handshake is turned into Django's own ``ASGIRequest``, so its headers reach
    ``get_host`` (``ALLOWED_HOSTS``, ``USE_X_FORWARDED_HOST``) the way an HTTP request's do:
    repeated headers joined, and names with underscores dropped (``X_Forwarded_Host`` is not
    ``X-Forwarded-Host``, or a proxy that only overwrites the latter would be bypassed here).
    """
    request = ASGIRequest(
        # Only the headers and the server matter; the query string stays out of it (Django
        # would decode it as UTF-8 and fail on a client's stray bytes).
        dict(scope, type="http", method="GET", query_string=b""),
        io.BytesIO(),
    )
    try:
        return normalize_host(request.get_host())
    except DisallowedHost:
        return None


class TenantMiddleware:
    """Resolves the tenant from ``Host`` like the HTTP router and runs the socket in its scope.

    Refusals (4403) carry the HTTP router's error codes as the close reason. The tenant is
    in ``scope["tenant"]`` and active (``current_tenant()``) for the whole connection.
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resolution = await database_sync_to_async(resolve_host)(request_host(scope))
        if resolution.tenant is not None:
            with tenant_scope(resolution.tenant):
                return await self.inner(dict(scope, tenant=resolution.tenant), receive, send)
        # The platform's own host has no tenant events.
        reason = "tenant_not_found" if resolution.public else resolution.code
        return await refuse(scope, receive, send, code=CLOSE_FORBIDDEN, reason=reason)


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


class JWTAuthMiddleware:
    """Authenticates the socket with an access token of the current tenant (else 4401).

    Sets ``scope["user"]`` and ``scope["token"]`` (whose ``exp`` ends the connection).
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

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
                return await self.inner(dict(scope, user=user, token=token), receive, send)
        return await refuse(scope, receive, send, code=CLOSE_UNAUTHORIZED, reason=reason)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """The catch-all route: an unknown path is refused (4404) instead of crashing the router."""
    await refuse(scope, receive, send, code=CLOSE_NOT_FOUND, reason="not_found")
