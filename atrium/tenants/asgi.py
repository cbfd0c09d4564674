"""The ASGI door: a WebSocket enters its tenant from ``Host``, or is refused with a close code.

``TenantMiddleware`` resolves the host exactly as the HTTP router does and runs the whole
connection in ``tenant_scope``; every database call a socket makes goes through
``tenant_database_sync_to_async``, which enters the tenant's scope again on the worker
thread, because that thread's connection serves every socket and request in turn.

A refused socket is accepted and then closed with an application close code: closing
before the handshake makes the server answer a bare HTTP 403, and a browser sees only
1006, unable to tell an expired token (4401: get a new one) from a suspended tenant (4403).
``SocketMiddleware`` is the base of every socket middleware: its ``accepted_subprotocol``
hook names the subprotocol the refusing handshake answers with (the platform's token
subprotocol, ``atrium.platform.realtime.middleware``).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest

from .context import current_tenant, tenant_scope
from .routing import normalize_host, resolve_host

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# WebSocket close codes of Atrium (4000-4999 are the application's own range).
CLOSE_UNAUTHORIZED = 4401  # the token or the user is no longer valid
CLOSE_FORBIDDEN = 4403  # the tenant is not active, or the origin is not allowed
CLOSE_NOT_FOUND = 4404  # no tenant at this host
CLOSE_TOO_MANY_SOCKETS = 4429  # the user holds ATRIUM_WS_MAX_SOCKETS_PER_USER sockets already


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


async def refuse(
    scope: Scope, receive: Receive, send: Send, *, code: int, reason: str, subprotocol=None
) -> None:
    """Complete the handshake (answering ``subprotocol``), then close with ``code`` and a
    machine-readable ``reason``."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return  # the client left before the handshake
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.close", "code": code, "reason": reason})


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


class SocketMiddleware:
    """Base of the socket middlewares: wraps ``inner`` and refuses with a close code."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    def accepted_subprotocol(self, scope: Scope) -> str | None:
        """The subprotocol a refusing handshake answers with (none here): a browser drops a
        socket whose handshake answer names none of the subprotocols it asked for."""
        return None

    async def refuse(
        self, scope: Scope, receive: Receive, send: Send, *, code: int, reason: str
    ) -> None:
        await refuse(
            scope,
            receive,
            send,
            code=code,
            reason=reason,
            subprotocol=self.accepted_subprotocol(scope),
        )


class TenantMiddleware(SocketMiddleware):
    """Resolves the tenant from ``Host`` like the HTTP router and runs the socket in its scope.

    Refusals (4403) carry the HTTP router's error codes as the close reason. The tenant is
    in ``scope["tenant"]`` and active (``current_tenant()``) for the whole connection.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resolution = await database_sync_to_async(resolve_host)(request_host(scope))
        if resolution.tenant is not None:
            with tenant_scope(resolution.tenant):
                return await self.inner(dict(scope, tenant=resolution.tenant), receive, send)
        # The platform's own host has no tenant events.
        reason = "tenant_not_found" if resolution.public else resolution.code
        return await self.refuse(scope, receive, send, code=CLOSE_FORBIDDEN, reason=reason)


__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_NOT_FOUND",
    "CLOSE_TOO_MANY_SOCKETS",
    "CLOSE_UNAUTHORIZED",
    "SocketMiddleware",
    "TenantMiddleware",
    "refuse",
    "request_host",
    "tenant_database_sync_to_async",
]
