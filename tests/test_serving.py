"""Serving as `make run`, the Dockerfile and compose do: gunicorn (WSGI) for HTTP and uvicorn
(ASGI) for /ws/ behind HAProxy on one origin, with worker processes, recycling, graceful
shutdown and proxy headers trusted exactly as ATRIUM_TRUSTED_PROXY_COUNT says. Real
processes throughout (tests/driver.py)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import socket
import time
import uuid

import pytest
from django_redis import get_redis_connection
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests import driver
from tests.fixtures import OWNER_PASSWORD

HOST = "alpha.localhost"
OWNER = "owner@alpha.test"


@pytest.fixture(scope="module")
def site(django_db_setup, tenant_a):
    with driver.Site(workers=2) as running:
        yield running


def events_socket(port: int, token: str):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return connect(
        f"ws://{HOST}:{port}/ws/events/",
        sock=raw,
        subprotocols=["bearer", token],
        open_timeout=10,
        ping_interval=None,
        proxy=None,
    )


def test_http_and_websocket_share_one_origin(site):
    token = site.login(HOST, OWNER, OWNER_PASSWORD)
    me = site.get(HOST, "/api/v1/users/me/", token=token)
    assert (me.status_code, me.json()["email"]) == (200, OWNER)
    with events_socket(site.port, token) as ws:
        ws.send('{"type": "ping"}')
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}


def test_web_concurrency_workers_serve_and_default_to_the_cores(site, tenant_a):
    assert len(site.web.worker_pids()) == 2
    with driver.Gunicorn(workers=None) as default:
        assert len(default.worker_pids()) == os.cpu_count()
        assert "Using worker: sync" in default.output_since_start()
        assert default.get(HOST, "/healthz").status_code == 200


def test_a_413_for_a_declared_or_chunked_body_past_the_limit(site):
    limit = {"ATRIUM_REQUEST_MAX_BYTES": "1000"}
    with driver.Gunicorn(env=limit) as web:
        declared = web.post(HOST, "/api/v1/auth/token/", data=b"x" * 1001)
        assert declared.status_code == 413
        assert declared.json()["errors"][0]["code"] == "request_too_large"
        chunked = web.post(HOST, "/api/v1/auth/token/", data=iter([b"x" * 600, b"x" * 600]))
        assert chunked.status_code == 413
        body = json.dumps({"email": OWNER, "password": OWNER_PASSWORD}).encode()
        small = web.post(
            HOST,
            "/api/v1/auth/token/",
            data=iter([body[:10], body[10:]]),
            headers={"Content-Type": "application/json"},
        )
        assert small.status_code == 200, small.text


def test_workers_are_recycled_after_max_requests_with_jitter(tenant_a):
    env = {"GUNICORN_MAX_REQUESTS": "5", "GUNICORN_MAX_REQUESTS_JITTER": "3"}
    with driver.Gunicorn(env=env, workers=1) as web:
        (first,) = web.worker_pids()
        served = 0
        while web.worker_pids() in ({first}, set()) and served < 20:
            assert web.get(HOST, "/healthz").status_code == 200
            served += 1
        # The readiness probe was served by the same worker: at most 5 + 3 in all.
        assert 0 < served <= 8, web.logs()
        assert "Autorestarting worker after current request" in web.output_since_start()
        driver.wait_for(lambda: len(web.worker_pids() - {first}) == 1, "a new worker", web)


def test_sigterm_lets_an_in_flight_request_finish(tenant_a):
    with driver.Site(workers=1) as site:
        body = json.dumps({"email": OWNER, "password": OWNER_PASSWORD}).encode()
        # Straight to gunicorn: HAProxy would hold a request until its body is complete.
        with socket.create_connection(("127.0.0.1", site.web.port), timeout=30) as client:
            client.sendall(
                b"POST /api/v1/auth/token/ HTTP/1.1\r\n"
                + f"Host: {HOST}:{site.port}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body[:10]
            )
            # The worker has the request and waits for the rest of the body.
            driver.wait_for(
                lambda: _worker_holds_a_connection(site.web), "a worker to take the request"
            )
            os.kill(site.web.pid, signal.SIGTERM)
            driver.wait_for(
                lambda: "Handling signal: term" in site.web.output_since_start(),
                "gunicorn to start its shutdown",
                site.web,
            )
            client.sendall(body[10:])
            response = _read_all(client)
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
        assert b'"access"' in response
        site.web.process.wait(timeout=30)
        assert site.web.process.returncode == 0, site.web.logs()


def test_sockets_get_1012_when_the_asgi_server_stops(site, tenant_a):
    with driver.Site(workers=1) as own:
        token = own.login(HOST, OWNER, OWNER_PASSWORD)
        with events_socket(own.port, token) as ws:
            ws.send('{"type": "ping"}')
            assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
            os.kill(own.ws.pid, signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=20)
            assert closed.value.rcvd is not None, "dropped without a close frame"
            assert closed.value.rcvd.code == 1012


def login_ip_keys(marker: str) -> list[str]:
    client = get_redis_connection("default")
    return [key.decode() for key in client.scan_iter(match=f"*login-ip:*{marker}*", count=1000)]


def failed_login(server: driver.Server, forwarded: str) -> None:
    response = server.post(
        HOST,
        "/api/v1/auth/token/",
        json={"email": f"nobody-{uuid.uuid4().hex[:6]}@alpha.test", "password": "wrong"},
        headers={"X-Forwarded-For": forwarded},
    )
    assert response.status_code in (400, 401), response.text


@pytest.mark.parametrize("trusted", ["0", "1", "2"])
def test_x_forwarded_for_is_trusted_exactly_as_the_setting_says(trusted, tenant_a):
    spoofed = f"203.0.113.{10 + int(trusted)}"
    with driver.Site(env={"ATRIUM_TRUSTED_PROXY_COUNT": trusted}) as site:
        failed_login(site, spoofed)
        if trusted == "0":
            failed_login(site.web, spoofed)  # straight to gunicorn: it trusts no header either
        keys = login_ip_keys(spoofed)  # at once: a bucket's key expires once it is empty
        real = login_ip_keys("127.0.0.1")
    # 0: REMOTE_ADDR (HAProxy's address, or the client's); 1: the entry HAProxy appended
    # (the real peer); 2: one hop more than there is, so the client's own entry counts.
    assert bool(keys) is (trusted == "2"), keys
    assert real or trusted == "2", "the real peer's bucket is missing"


def test_a_slow_client_does_not_hold_the_one_sync_worker(tenant_a):
    """HAProxy receives a request before the worker does: with one sync worker, a client
    that stalls in the middle of its body leaves it free for everyone else."""
    with driver.Site(workers=1) as site:
        body = json.dumps({"email": OWNER, "password": OWNER_PASSWORD}).encode()
        with socket.create_connection(("127.0.0.1", site.port), timeout=30) as slow:
            slow.sendall(
                b"POST /api/v1/auth/token/ HTTP/1.1\r\n"
                + f"Host: {HOST}:{site.port}\r\nContent-Type: application/json\r\n".encode()
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(1)
            assert not _worker_holds_a_connection(site.web)
            for _ in range(3):
                assert site.get(HOST, "/healthz", timeout=5).status_code == 200
            slow.sendall(body[10:])  # the stalled request is served once it is whole
            assert _read_all(slow).startswith(b"HTTP/1.1 200")


def _worker_holds_a_connection(web: driver.Gunicorn) -> bool:
    """A worker has accepted a connection (an established socket of its own on the port)."""
    hexport = f":{web.port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    inodes = {row[9] for row in rows if row[1].endswith(hexport) and row[3] == "01"}
    for pid in web.worker_pids():
        for fd in glob.glob(f"/proc/{pid}/fd/*"):
            with contextlib.suppress(OSError):
                if os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes:
                    return True
    return False


def _read_all(client: socket.socket) -> bytes:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
