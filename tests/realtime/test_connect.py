"""Connecting: the token (query or subprotocol), the tenant from Host, origins, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from atrium.platform.accounts.tokens import TenantAccessToken
from atrium.tenants import services
from atrium.tenants.context import tenant_scope

from .sockets import access_token, async_test, communicator, in_thread, open_socket, refusal


@async_test
async def test_connects_with_the_token_in_the_query_string(alpha_token):
    socket = communicator(token=alpha_token)
    try:
        assert await socket.connect() == (True, None)  # no subprotocol offered, none chosen
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}
    finally:
        await socket.disconnect()


@async_test
async def test_connects_with_the_token_as_subprotocol_and_answers_bearer(alpha_token):
    socket = communicator(subprotocols=["bearer", alpha_token])
    try:
        connected, subprotocol = await socket.connect()
        assert (connected, subprotocol) == (True, "bearer")
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}
    finally:
        await socket.disconnect()


@async_test
async def test_refuses_without_a_token(live_db):
    assert await refusal(communicator()) == (4401, "token_missing")
    assert await refusal(communicator(subprotocols=["bearer"])) == (4401, "token_missing")


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ.", "x" * 5000]
)
@async_test
async def test_refuses_a_malformed_token(live_db, token):
    assert await refusal(communicator(token=token)) == (4401, "token_not_valid")


@async_test
async def test_refuses_the_token_of_another_tenant(alpha_token, beta_token):
    assert await refusal(communicator(token=beta_token)) == (4401, "token_not_valid")
    assert await refusal(communicator(host="beta.localhost", token=alpha_token)) == (
        4401,
        "token_not_valid",
    )
    # The same token is fine on its own tenant.
    async with open_socket(host="beta.localhost", token=beta_token):
        pass


@async_test
async def test_refusal_still_answers_the_offered_subprotocol(beta_token):
    """Browsers drop a handshake that chooses none of their subprotocols, and with it the
    close code: a refused bearer socket is accepted as "bearer", then closed with 4401."""
    socket = communicator(subprotocols=["bearer", beta_token])
    connected, subprotocol = await socket.connect()
    assert (connected, subprotocol) == (True, "bearer")
    message = await socket.receive_output()
    assert (message["type"], message["code"]) == ("websocket.close", 4401)
    await socket.wait()


@async_test
async def test_refuses_a_deactivated_user(tenant_a, alpha_member):
    token = await in_thread(access_token, tenant_a, alpha_member)

    def deactivate() -> None:
        with tenant_scope(tenant_a):
            type(alpha_member).objects.filter(pk=alpha_member.pk).update(is_active=False)

    await in_thread(deactivate)
    assert await refusal(communicator(token=token)) == (4401, "user_inactive")


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("nope.localhost", "tenant_not_found"),
        ("localhost", "tenant_not_found"),  # the platform host serves no tenant's events
        ("alpha.localhost.evil.test", "tenant_not_found"),
        ("bad_host!", "invalid_host"),
    ],
)
@async_test
async def test_refuses_hosts_that_serve_no_tenant(alpha_token, host, reason):
    assert await refusal(communicator(host=host, token=alpha_token)) == (4403, reason)


@pytest.mark.parametrize("host", ["beta.localhost..", "beta.localhost..:8000", "beta..localhost"])
@async_test
async def test_a_host_with_an_empty_label_is_not_the_tenant(beta_token, host):
    # beta's own token: only the host is wrong, and it must not be read as beta's.
    assert await refusal(communicator(host=host, token=beta_token)) == (4403, "invalid_host")


@async_test
async def test_host_is_resolved_like_http_port_and_case(alpha_token):
    async with open_socket(host="ALPHA.localhost:8000", token=alpha_token) as socket:
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}


@async_test
async def test_refuses_a_suspended_tenant_and_serves_it_again_when_active(beta_token):
    await in_thread(services.tenant_suspend, slug="beta", reason="unpaid")
    try:
        assert await refusal(communicator(host="beta.localhost", token=beta_token)) == (
            4403,
            "tenant_suspended",
        )
    finally:
        await in_thread(services.tenant_activate, slug="beta")
    async with open_socket(host="beta.localhost", token=beta_token):
        pass


@async_test
async def test_refuses_an_archived_tenant_with_its_own_reason(beta_token):
    await in_thread(services.tenant_archive, slug="beta")
    try:
        assert await refusal(communicator(host="beta.localhost", token=beta_token)) == (
            4403,
            "tenant_archived",
        )
    finally:
        await in_thread(services.tenant_activate, slug="beta")


@async_test
async def test_refuses_a_foreign_origin_when_origins_are_set(settings, alpha_token):
    settings.ALLOWED_ORIGINS = ["https://app.example.com", "http://.localhost:8000"]
    for origin in ("https://evil.example.net", "http://app.example.com", "null"):
        assert await refusal(communicator(token=alpha_token, origin=origin)) == (
            4403,
            "origin_not_allowed",
        ), origin
    for origin in ("https://app.example.com", "http://alpha.localhost:8000", None):
        async with open_socket(token=alpha_token, origin=origin):
            pass


@async_test
async def test_any_origin_passes_when_no_origins_are_set(settings, alpha_token):
    settings.ALLOWED_ORIGINS = []
    async with open_socket(token=alpha_token, origin="https://anywhere.example.net"):
        pass


@async_test
async def test_an_unknown_path_is_refused_not_crashed(alpha_token):
    socket = communicator(token=alpha_token, path="/ws/nope/")
    assert await refusal(socket) == (4404, "not_found")


@async_test
async def test_the_socket_closes_when_its_token_expires(tenant_a, alpha_owner):
    def short_lived_token() -> str:
        with tenant_scope(tenant_a):
            token = TenantAccessToken.for_user(alpha_owner)
            token.set_exp(lifetime=timedelta(seconds=1))
            return str(token)

    socket = communicator(token=await in_thread(short_lived_token))
    try:
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}
        message = await socket.receive_output(timeout=4)
        assert (message["type"], message["code"], message["reason"]) == (
            "websocket.close",
            4401,
            "token_expired",
        )
    finally:
        await socket.disconnect()
