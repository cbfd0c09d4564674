"""In chromium: a browser app served from another origin calls a tenant's API with a token.

The app is a page on its own origin (a tiny http.server on a free port). It signs in and
reads ``/users/me/`` through ``fetch`` (both need a preflight: JSON body, Authorization
header). The browser lets the page read the answers only from the tenant that allows the
app's origin (set with the operator CLI); the other tenant's answers are refused by the
browser itself, and so is the first tenant's once the origin is removed.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import run_cli
from tests.isolation.fuzz_support import PASSWORD

FETCH = """async ([base, email, password]) => {
  const result = {};
  try {
    const login = await fetch(base + "/api/v1/auth/token/", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email, password}),
    });
    result.login = login.status;
    const token = (await login.json()).access;
    const me = await fetch(base + "/api/v1/users/me/", {
      headers: {"Authorization": "Bearer " + token},
    });
    result.me = me.status;
    result.email = (await me.json()).email;
    result.remaining = me.headers.get("RateLimit-Remaining");
  } catch (error) {
    result.error = String(error);
  }
  return result;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_origin(tmp_path_factory) -> Iterator[str]:
    """A static 'browser app' on its own origin, http://127.0.0.1:<free port>."""
    root: Path = tmp_path_factory.mktemp("cors-app")
    (root / "index.html").write_text("<!doctype html><title>Other-origin app</title><h1>app</h1>")
    handler_class = type(
        "QuietHandler",
        (http.server.SimpleHTTPRequestHandler,),
        {"log_message": lambda self, *args: None},
    )
    port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port),
        lambda *args: handler_class(*args, directory=str(root)),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def home_allows_app(tenants, app_origin) -> Iterator[str]:
    """The operator allows the app's origin on the first tenant only (through the CLI)."""
    home, _ = tenants
    added = run_cli("tenants", "cors", "add", home.slug, app_origin)
    assert added.returncode == 0, added.stderr
    yield app_origin
    run_cli("tenants", "cors", "remove", home.slug, app_origin)


def call_api(page, server, tenant) -> dict:
    base = server.url(tenant.host, "").rstrip("/")
    return page.evaluate(FETCH, [base, f"owner@{tenant.slug}.test", PASSWORD])


def test_an_allowed_origin_calls_the_api_and_others_are_refused(
    home_allows_app, tenants, server, page, artifacts
):
    home, other = tenants
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(home_allows_app + "/index.html")
    assert page.evaluate("location.origin") == home_allows_app

    allowed = call_api(page, server, home)
    assert allowed == {
        "login": 200,
        "me": 200,
        "email": f"owner@{home.slug}.test",
        "remaining": allowed["remaining"],
    }, allowed
    assert allowed["remaining"] is not None  # an exposed header is readable too

    refused = call_api(page, server, other)
    assert refused.keys() == {"error"}, refused
    assert "Failed to fetch" in refused["error"]
    assert any("CORS" in line for line in console), console
    page.screenshot(path=str(artifacts / "cors-app.png"), full_page=True)


def test_removing_the_origin_refuses_the_app_at_once(tenants, server, page, app_origin):
    home, _ = tenants
    added = run_cli("tenants", "cors", "add", home.slug, app_origin)
    assert added.returncode == 0, added.stderr
    page.goto(app_origin + "/index.html")
    assert call_api(page, server, home)["me"] == 200
    removed = run_cli("tenants", "cors", "remove", home.slug, app_origin)
    assert removed.returncode == 0, removed.stderr
    # The preflight cache of the browser may keep the preflight, never the answer's headers.
    assert call_api(page, server, home).keys() == {"error"}
