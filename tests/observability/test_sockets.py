"""Sockets: one access line per connection (tenant, user, request id, close code), the
request id answered in the handshake, and the open-socket gauge."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.realtime.conftest import alpha_owner, alpha_token  # noqa: F401 (fixtures)
from tests.realtime.sockets import (  # channels.testing made importable without daphne
    EVENTS_PATH,
    WebsocketCommunicator,
    application,
    async_test,
    refusal,
)


def open_sockets() -> float:
    return REGISTRY.get_sample_value("atrium_websockets_open") or 0.0


def socket(token: str | None, request_id: str) -> WebsocketCommunicator:
    headers = [(b"host", b"alpha.localhost"), (b"x-request-id", request_id.encode())]
    url = EVENTS_PATH + (f"?token={token}" if token else "")
    return WebsocketCommunicator(application, url, headers=headers)


@async_test
async def test_a_socket_is_counted_while_open_and_logged_when_closed(
    alpha_token, alpha_owner, json_logs  # noqa: F811
):
    before = open_sockets()
    ws = socket(alpha_token, "sock-1")
    await ws.send_input({"type": "websocket.connect"})
    accept = await ws.receive_output(timeout=5)
    assert accept["type"] == "websocket.accept"
    assert (b"x-request-id", b"sock-1") in accept["headers"]
    assert open_sockets() == before + 1
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect(timeout=5)
    assert open_sockets() == before
    [line] = json_logs.records("atrium.access")
    assert line["method"] == "WS" and line["path"] == EVENTS_PATH
    assert line["tenant"] == "alpha"
    assert line["user_id"] == str(alpha_owner.pk)
    assert line["request_id"] == "sock-1"
    assert line["status"] == 1000
    assert isinstance(line["duration_ms"], float)


@async_test
async def test_a_refused_socket_is_logged_with_its_close_code(live_db, tenant_a, json_logs):
    before = open_sockets()
    assert await refusal(socket(None, "bad id!")) == (4401, "token_missing")
    assert open_sockets() == before  # accepted to say why, then closed at once: counted out
    [line] = json_logs.records("atrium.access")
    assert line["status"] == 4401
    assert line["tenant"] == "alpha"
    assert line["request_id"] != "bad id!" and len(line["request_id"]) == 32
