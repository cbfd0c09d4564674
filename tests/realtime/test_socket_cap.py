"""The per-user socket cap on real servers: one socket more than ATRIUM_WS_MAX_SOCKETS_PER_USER
is closed with 4429, counted across server processes; closing a socket frees its slot, and
the slots of a server process that crashed come free when their leases end."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from atrium.platform.accounts.models import User
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests.driver import Server, wait_for
from tests.realtime.sockets import server_socket

HOST = "alpha.localhost"
CAP = 2


@pytest.fixture
def capped_env() -> Iterator[dict[str, str]]:
    """The servers' settings: a cap of 2, short leases, and a channel-layer prefix of their
    own (under the run's), whose keys are deleted afterwards: the server this test kills
    cannot leave its sockets' groups, and they must not outlive the test."""
    prefix = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}-cap{uuid.uuid4().hex[:8]}"
    yield {
        "ATRIUM_WS_MAX_SOCKETS_PER_USER": str(CAP),
        "ATRIUM_WS_SOCKET_LEASE_SECONDS": "3",
        "TEST_CHANNEL_PREFIX": prefix,
    }
    client = redis.Redis.from_url(settings.CHANNEL_REDIS_URL)
    try:
        leftovers = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if leftovers:
            client.delete(*leftovers)
    finally:
        client.close()


@pytest.fixture
def users(live_db, tenant_a: Tenant) -> Iterator[tuple[str, str]]:
    """Access tokens of two committed users of alpha."""
    tag = uuid.uuid4().hex[:8]
    with tenant_scope(tenant_a):
        tokens = tuple(
            token_pair_issue(user=User.objects.create_user(email=f"{name}-{tag}@alpha.test")).access
            for name in ("capped", "other")
        )
    yield tokens
    with tenant_scope(tenant_a):
        User.objects.filter(email__endswith=f"-{tag}@alpha.test").delete()


def attempt(
    sockets: contextlib.ExitStack, server: Server, token: str
) -> ClientConnection | tuple[int, str]:
    """Open a socket: the connection if the server keeps it, else its close code and reason."""
    ws = server_socket(server, HOST, token)
    try:
        ws.send('{"type": "ping"}')
        assert json.loads(ws.recv(timeout=20)) == {"type": "pong"}
    except ConnectionClosed as closed:
        ws.close()
        assert closed.rcvd is not None, "the connection dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
    return sockets.enter_context(ws)


def opened(result: ClientConnection | tuple[int, str]) -> ClientConnection | None:
    if isinstance(result, ClientConnection):
        return result
    assert result == (4429, "too_many_sockets")  # waiting for a slot, refused for no other
    return None


def test_one_socket_over_the_cap_is_refused_across_processes_until_a_slot_frees(users, capped_env):
    capped, other = users
    with (
        Server(env=capped_env, log_level="warning") as a,
        Server(env=capped_env, log_level="warning") as b,
        contextlib.ExitStack() as sockets,
    ):
        first = attempt(sockets, a, capped)
        second = attempt(sockets, b, capped)
        assert isinstance(first, ClientConnection) and isinstance(second, ClientConnection)
        # The cap counts the user's sockets on every process together.
        assert attempt(sockets, a, capped) == (4429, "too_many_sockets")
        assert attempt(sockets, b, capped) == (4429, "too_many_sockets")
        # Another user is not affected.
        assert isinstance(attempt(sockets, a, other), ClientConnection)

        # Closing a socket frees its slot (released as the server sees it go).
        second.close()
        replacement = wait_for(
            lambda: opened(attempt(sockets, b, capped)),
            "the closed socket's slot to come free",
            a,
            b,
        )
        assert attempt(sockets, b, capped) == (4429, "too_many_sockets")

        # A server process that crashes cannot release its slots: they come free
        # when their leases end, and the cap holds again after that.
        a.kill()
        wait_for(
            lambda: opened(attempt(sockets, b, capped)),
            "the crashed process's slot to come free",
            b,
        )
        assert attempt(sockets, b, capped) == (4429, "too_many_sockets")
        replacement.send('{"type": "ping"}')
        assert json.loads(replacement.recv(timeout=20)) == {"type": "pong"}
