"""Helpers for socket tests: async bodies without pytest-asyncio, sockets on the real app."""

from __future__ import annotations

import functools
import importlib
import socket
import sys
import types
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import channels
from asgiref.sync import async_to_sync, sync_to_async
from websockets.sync.client import ClientConnection, connect


def _import_channels_testing() -> None:
    """Make ``channels.testing`` importable without daphne.

    Its ``__init__`` imports ``ChannelsLiveServerTestCase``, which needs the daphne server
    (django/channels#1942, open); Atrium serves with uvicorn and does not install it. The
    communicators themselves need only asgiref, so the package is registered without
    that one import and the communicators are loaded from their own modules.
    """
    try:
        importlib.import_module("channels.testing")
    except ModuleNotFoundError as error:
        if error.name != "daphne":
            raise
    else:
        return
    package = types.ModuleType("channels.testing")
    package.__path__ = [str(Path(channels.__file__).parent / "testing")]
    package.__package__ = "channels.testing"
    sys.modules["channels.testing"] = package
    from channels.testing.application import ApplicationCommunicator
    from channels.testing.http import HttpCommunicator
    from channels.testing.websocket import WebsocketCommunicator

    package.ApplicationCommunicator = ApplicationCommunicator
    package.HttpCommunicator = HttpCommunicator
    package.WebsocketCommunicator = WebsocketCommunicator


_import_channels_testing()

from channels.testing import WebsocketCommunicator  # noqa: E402

from atrium.platform.accounts.models import User  # noqa: E402
from atrium.platform.accounts.tokens import token_pair_issue  # noqa: E402
from atrium.platform.realtime.events import publish_to_tenant, publish_to_user  # noqa: E402
from atrium.tenants.context import tenant_scope  # noqa: E402
from atrium.tenants.models import Tenant  # noqa: E402
from config.asgi import application  # noqa: E402
from tests.driver import Server  # noqa: E402

EVENTS_PATH = "/ws/events/"


def async_test(body: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in an event loop of its own (pytest-asyncio is not used).

    The body's thread-sensitive sync calls (the app's database work, ``in_thread``) run on
    the test's own thread, where pytest-django's database access applies.
    """

    @functools.wraps(body)
    def run(*args: Any, **kwargs: Any) -> None:
        async_to_sync(body)(*args, **kwargs)

    return run


def access_token(tenant: Tenant, user: User) -> str:
    with tenant_scope(tenant):
        return token_pair_issue(user=user).access


def communicator(
    *,
    host: str = "alpha.localhost",
    token: str | None = None,
    query: str = "",
    subprotocols: list[str] | None = None,
    origin: str | None = None,
    path: str = EVENTS_PATH,
) -> WebsocketCommunicator:
    params = [f"token={token}"] if token else []
    if query:
        params.append(query)
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    url = path + ("?" + "&".join(params) if params else "")
    return WebsocketCommunicator(application, url, headers=headers, subprotocols=subprotocols)


@asynccontextmanager
async def open_socket(**kwargs: Any) -> AsyncIterator[WebsocketCommunicator]:
    """A socket the app accepted (and kept open); closed by the client at the end."""
    socket = communicator(**kwargs)
    try:
        connected, _ = await socket.connect(timeout=5)
        assert connected
        assert await socket.receive_nothing(timeout=0.05), "closed right after accepting"
        yield socket
    finally:
        await socket.disconnect(timeout=5)


async def refusal(socket: WebsocketCommunicator) -> tuple[int, str]:
    """The close code and reason of a refused socket (accepted, then closed at once)."""
    try:
        connected, _ = await socket.connect(timeout=5)
        assert connected, "a refusal completes the handshake so that its code reaches the client"
        message = await socket.receive_output(timeout=5)
        assert message["type"] == "websocket.close", message
        return message["code"], message.get("reason", "")
    finally:
        await socket.wait(timeout=5)


async def in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run sync code (ORM, publishing) from an async test body, on the test's own thread."""
    return await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)


def publish_tenant_event(tenant: Tenant, event_type: str, **event: Any) -> None:
    with tenant_scope(tenant):
        publish_to_tenant(event_type, **event)


def publish_user_event(tenant: Tenant, user_id: object, event_type: str, **event: Any) -> None:
    with tenant_scope(tenant):
        publish_to_user(user_id, event_type, **event)


def server_socket(server: Server, host: str, token: str) -> ClientConnection:
    """A socket to a real server (``tests.driver.Server``) on ``host``, the token sent as the
    ``bearer`` subprotocol pair, with no pings and no proxy: the test decides what is sent."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return connect(
        server.ws_url(host),
        sock=raw,
        subprotocols=["bearer", token],
        open_timeout=10,
        ping_interval=None,
        proxy=None,
    )
