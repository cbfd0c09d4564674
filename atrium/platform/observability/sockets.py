"""WebSocket connections: a log context for the connection, one access line when it ends,
and the open-socket gauge.

``SocketObservability`` wraps the whole socket stack (``config/asgi.py``): it binds the
connection's ``LogContext`` (an incoming ``X-Request-ID`` kept as for HTTP, answered in the
handshake), counts the socket while it is open, and writes one ``atrium.access`` line with
the close code as ``status``. ``SocketUser``, inside the authentication middleware, adds the
user the token named.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from . import metrics
from .context import LogContext, bind, clean_request_id, current

access_logger = logging.getLogger("atrium.access")


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class SocketObservability:
    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive, send) -> None:
        started = time.perf_counter()
        request_id = clean_request_id(_header(scope, b"x-request-id"))
        log_context = LogContext(
            request_id=request_id, kind="socket", method="WS", path=scope.get("path")
        )
        state: dict[str, Any] = {"accepted": False, "code": None}

        async def observed_send(message: dict) -> None:
            kind = message.get("type")
            if kind == "websocket.accept":
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
                if not state["accepted"]:
                    state["accepted"] = True
                    metrics.SOCKETS_OPEN.inc()
                log_context.note_tenant()
            elif kind == "websocket.close":
                state["code"] = message.get("code", 1000)
                log_context.note_tenant()
            await send(message)

        with bind(log_context):
            try:
                await self.inner(scope, receive, observed_send)
            finally:
                if state["accepted"]:
                    metrics.SOCKETS_OPEN.dec()
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                status = state["code"] if state["code"] is not None else 1000
                access_logger.info(
                    "WS %s %s %sms",
                    scope.get("path"),
                    status,
                    duration_ms,
                    extra={
                        "tenant": log_context.tenant,
                        "tenant_id": log_context.tenant_id,
                        "user_id": log_context.user_id,
                        "method": "WS",
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": duration_ms,
                    },
                )


class SocketUser:
    """Inside the authentication middleware: the socket's user joins its log context."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive, send) -> None:
        log_context = current()
        if log_context is not None:
            user = scope.get("user")
            pk = getattr(user, "pk", None)
            log_context.user_id = str(pk) if pk is not None else None
            log_context.note_tenant()
        return await self.inner(scope, receive, send)
