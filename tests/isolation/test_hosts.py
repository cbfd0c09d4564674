"""Hosts: spoofed, forwarded, unknown, IP literals, ports, case, trailing dots, smuggled.

Every case goes through both doors of the real ASGI application: an HTTP request and a
WebSocket handshake with the same headers. Both must reach the same decision, and that
decision is the one in the table: a tenant, the platform, or a refusal with its code.

``X-Forwarded-Host`` is Django's to trust or not (``USE_X_FORWARDED_HOST``); Atrium leaves
it off and nothing else in the stack (``Forwarded``, ``X-Host``, …) names the host. Both the
default and the configured case are tested, on both doors.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.realtime.sockets import EVENTS_PATH, WebsocketCommunicator, async_test

from .conftest import application, asgi_request

# Outcomes: a tenant's slug, "public", or the refusal code (HTTP status in REFUSALS).
REFUSALS = {"tenant_not_found": 404, "invalid_host": 400}
SERVER = ("127.0.0.1", 8000)


def h(host: str | None, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return ([("host", host)] if host is not None else []) + list(extra)


# (id, request headers, outcome) with the default settings.
DEFAULT_CASES = [
    ("plain", h("beta.localhost"), "beta"),
    ("upper", h("BETA.LOCALHOST"), "beta"),
    ("mixed-with-port", h("Beta.Localhost:8000"), "beta"),
    ("trailing-dot", h("beta.localhost."), "beta"),
    ("trailing-dot-port", h("beta.localhost.:8000"), "beta"),
    ("trailing-dots", h("beta.localhost.."), "invalid_host"),  # an empty label: no host
    ("trailing-dots-port", h("beta.localhost..:8000"), "invalid_host"),
    ("platform-dots", h("localhost.."), "invalid_host"),
    ("port-80", h("alpha.localhost:80"), "alpha"),
    ("xfh-ignored", h("alpha.localhost", ("x-forwarded-host", "beta.localhost")), "alpha"),
    ("forwarded-ignored", h("alpha.localhost", ("forwarded", "host=beta.localhost")), "alpha"),
    ("x-host-ignored", h("alpha.localhost", ("x-host", "beta.localhost")), "alpha"),
    ("x-original-host", h("alpha.localhost", ("x-original-host", "beta.localhost")), "alpha"),
    ("x-fwd-server", h("alpha.localhost", ("x-forwarded-server", "beta.localhost")), "alpha"),
    ("xfh-underscore", h("alpha.localhost", ("x_forwarded_host", "beta.localhost")), "alpha"),
    ("unknown", h("gamma.localhost"), "tenant_not_found"),
    ("suffix", h("beta.localhost.evil.test"), "tenant_not_found"),
    ("prefix", h("evil.beta.localhost"), "tenant_not_found"),
    ("bare-slug", h("beta"), "tenant_not_found"),
    ("other-domain", h("evil.test"), "tenant_not_found"),
    ("schema-name", h("public.localhost"), "tenant_not_found"),
    ("punycode", h("xn--bta-yed.localhost"), "tenant_not_found"),
    ("ipv4", h("127.0.0.1"), "tenant_not_found"),
    ("ipv4-port", h("127.0.0.1:8000"), "tenant_not_found"),
    ("no-host", h(None), "tenant_not_found"),  # PEP 3333: the server's own address
    ("ipv6", h("[::1]"), "invalid_host"),
    ("ipv6-port", h("[::1]:8000"), "invalid_host"),
    ("template", h("_template.localhost"), "invalid_host"),
    ("spare", h("_spare_1.localhost"), "invalid_host"),
    ("empty", h(""), "invalid_host"),
    ("bad-port", h("beta.localhost:abc"), "invalid_host"),
    ("two-ports", h("beta.localhost:8000:80"), "invalid_host"),
    ("empty-label", h("beta..localhost"), "invalid_host"),
    ("userinfo", h("alpha.localhost@beta.localhost"), "invalid_host"),
    ("path", h("beta.localhost/alpha"), "invalid_host"),
    ("space", h("beta.localhost alpha.localhost"), "invalid_host"),
    ("comma", h("alpha.localhost,beta.localhost"), "invalid_host"),
    ("two-host-headers", h("alpha.localhost", ("host", "beta.localhost")), "invalid_host"),
    ("non-ascii", h("b\u0435ta.localhost"), "invalid_host"),  # a Cyrillic e
    ("too-long", h("a" * 250 + ".localhost"), "invalid_host"),
    ("platform", h("localhost"), "public"),
    ("platform-port", h("LOCALHOST.:8000"), "public"),
    ("platform-www", h("www.localhost"), "public"),
]

# With USE_X_FORWARDED_HOST on, the forwarded host decides, on both doors alike.
FORWARDED_CASES = [
    ("xfh-wins", h("alpha.localhost", ("x-forwarded-host", "beta.localhost")), "beta"),
    ("xfh-port", h("alpha.localhost", ("x-forwarded-host", "BETA.localhost:443")), "beta"),
    ("xfh-absent", h("alpha.localhost"), "alpha"),
    # Django drops header names with underscores (X_Forwarded_Host is no X-Forwarded-Host):
    # a proxy that only overwrites the hyphenated one must not be bypassed on either door.
    ("xfh-underscore", h("alpha.localhost", ("x_forwarded_host", "beta.localhost")), "alpha"),
    (
        "xfh-underscore-too",
        h(
            "alpha.localhost",
            ("x-forwarded-host", "alpha.localhost"),
            ("x_forwarded_host", "beta.localhost"),
        ),
        "alpha",
    ),
    (
        "xfh-unknown",
        h("alpha.localhost", ("x-forwarded-host", "gamma.localhost")),
        "tenant_not_found",
    ),
    ("xfh-empty", h("alpha.localhost", ("x-forwarded-host", "")), "invalid_host"),
    (
        "xfh-list",
        h("alpha.localhost", ("x-forwarded-host", "beta.localhost, alpha.localhost")),
        "invalid_host",
    ),
    (
        "xfh-twice",
        h(
            "alpha.localhost",
            ("x-forwarded-host", "beta.localhost"),
            ("x-forwarded-host", "alpha.localhost"),
        ),
        "invalid_host",
    ),
    ("xfh-platform", h("alpha.localhost", ("x-forwarded-host", "localhost")), "public"),
]


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode("utf-8")) for name, value in headers]


async def http_outcome(headers: list[tuple[str, str]]) -> str:
    """What the HTTP door decided: the tenant serving ``/``, the platform, or a refusal."""
    response = await asgi_request("GET", "/", raw=_encoded(headers), server=SERVER)
    body = response.json()
    if response.status == 200:
        return body["tenant"]
    code = body["errors"][0]["code"]
    if (response.status, code) == (404, "not_found"):
        return "public"  # the platform urlconf has no tenant home
    assert REFUSALS.get(code) == response.status, (response.status, body)
    return code


async def ws_attempt(headers: list[tuple[str, str]], token: str) -> tuple[bool, int | None, str]:
    socket = WebsocketCommunicator(
        application, EVENTS_PATH, headers=_encoded(headers), subprotocols=["bearer", token]
    )
    socket.scope["server"] = SERVER
    try:
        connected, _ = await socket.connect(timeout=5)
        assert connected
        if await socket.receive_nothing(timeout=0.05):
            return True, None, ""
        message = await socket.receive_output(timeout=5)
        assert message["type"] == "websocket.close", message
        return False, message["code"], message.get("reason", "")
    finally:
        await socket.disconnect(timeout=5)


async def ws_outcome(headers: list[tuple[str, str]], tokens: dict) -> str:
    """What the WebSocket door decided: whose token it accepts, or the refusal's reason."""
    accepted = []
    reasons = set()
    for slug, pair in tokens.items():
        ok, code, reason = await ws_attempt(headers, pair.access)
        if ok:
            accepted.append(slug)
        elif code == 4401:
            assert reason == "token_not_valid", reason  # a tenant, but not this token's
        else:
            assert code == 4403, (code, reason)
            reasons.add(reason)
    if accepted:
        assert len(accepted) == 1 and not reasons, (accepted, reasons)
        return accepted[0]
    assert len(reasons) == 1, reasons
    (reason,) = reasons
    # The platform host serves no events: its socket is refused like an unknown host's.
    return reason


def ws_expected(outcome: str) -> str:
    return "tenant_not_found" if outcome == "public" else outcome


@pytest.mark.parametrize(
    ("headers", "outcome"), [pytest.param(*case[1:], id=case[0]) for case in DEFAULT_CASES]
)
@async_test
async def test_both_doors_decide_the_host_alike_by_default(socket_tokens, headers, outcome):
    assert not settings.USE_X_FORWARDED_HOST
    assert await http_outcome(headers) == outcome
    assert await ws_outcome(headers, socket_tokens) == ws_expected(outcome)


@pytest.mark.parametrize(
    ("headers", "outcome"), [pytest.param(*case[1:], id=case[0]) for case in FORWARDED_CASES]
)
@async_test
async def test_both_doors_trust_x_forwarded_host_only_when_configured(
    socket_tokens, settings, headers, outcome
):
    settings.USE_X_FORWARDED_HOST = True
    assert await http_outcome(headers) == outcome
    assert await ws_outcome(headers, socket_tokens) == ws_expected(outcome)


def test_atrium_does_not_trust_forwarded_hosts_by_default():
    from config.settings import base

    assert getattr(base, "USE_X_FORWARDED_HOST", False) is False
    assert not settings.USE_X_FORWARDED_HOST


@async_test
async def test_a_forwarded_host_never_carries_a_token_across(socket_tokens, settings):
    """Trusted or not, the host that is decided is the one whose tokens are accepted."""
    alpha_token = socket_tokens["alpha"].access
    spoof = [("x-forwarded-host", "beta.localhost")]
    for trusted in (False, True):
        settings.USE_X_FORWARDED_HOST = trusted
        me = await asgi_request(
            "GET", "/api/v1/users/me/", host="alpha.localhost", headers=spoof, token=alpha_token
        )
        assert me.status == (401 if trusted else 200), me.body
        ok, code, reason = await ws_attempt([("host", "alpha.localhost"), *spoof], alpha_token)
        assert (ok, code) == ((False, 4401) if trusted else (True, None)), reason
