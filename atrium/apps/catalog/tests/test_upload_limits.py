"""Upload limits on a real server: a body past ATRIUM_REQUEST_MAX_BYTES is refused by its
Content-Length before it is read, and cut off while it streams in when it has none
(chunked), both with 413 in the one error shape, the connection closed after it."""

from __future__ import annotations

import json
import socket

import pytest

from tests.driver import Server
from tests.fixtures import OWNER_PASSWORD

LIMIT = 4096
IMPORTS = "/api/v1/catalog/imports/"
BOUNDARY = "atrium-test-boundary"


@pytest.fixture(scope="module")
def server(django_db_setup):
    with Server(env={"ATRIUM_REQUEST_MAX_BYTES": str(LIMIT)}, log_level="warning") as live:
        yield live


@pytest.fixture
def token(server, tenant_a) -> str:
    return server.login("alpha.localhost", "owner@alpha.test", OWNER_PASSWORD)


def head(server: Server, token: str, framing: str) -> bytes:
    return (
        f"POST {IMPORTS} HTTP/1.1\r\n"
        f"Host: alpha.localhost:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"{framing}\r\n"
        "\r\n"
    ).encode()


def part_start() -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="products.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "sku,name,price\r\n"  # no category column: never a job
    ).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers and body of the one response on ``sock``, and whether the server
    closed the connection after it. Generous timeout: a server that waits for the rest of
    the body (the defect) fails here instead of hanging."""
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        assert received, f"connection closed before a response: {data!r}"
        data += received
    raw_head, body = data.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        received = sock.recv(65536)
        assert received, "connection closed mid-response"
        body += received
    closed = sock.recv(65536) == b""
    return status, headers, body, closed


def assert_too_large(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["type"] == "client_error"
    assert [(e["code"], e["attr"]) for e in error["errors"]] == [("request_too_large", None)]
    assert str(LIMIT) in error["errors"][0]["detail"]


def test_a_declared_length_past_the_limit_is_refused_before_the_body_is_read(server, token):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        # Headers only: the 413 must come without the server waiting for a byte of the body.
        sock.sendall(head(server, token, f"Content-Length: {10 * 1024 * 1024}"))
        status, headers, body, closed = answer(sock)
    assert_too_large(status, headers, body)
    assert closed


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(server, token):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head(server, token, "Transfer-Encoding: chunked"))
        sock.sendall(chunk(part_start() + b"x" * (LIMIT // 2)))
        sock.sendall(chunk(b"y" * (LIMIT // 2 + 100)))
        # No last chunk: the body never ends, so only a cut-off can answer.
        status, headers, body, closed = answer(sock)
    assert_too_large(status, headers, body)
    assert closed


def test_bodies_within_the_limit_reach_the_view(server, token):
    small = part_start() + b"no categories here\r\n" + f"--{BOUNDARY}--\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head(server, token, "Transfer-Encoding: chunked"))
        sock.sendall(chunk(small) + chunk(b""))
        status, _, body, _ = answer(sock)
    # Parsed by the import itself: its header lacks columns (nothing is queued).
    assert status == 400, body
    assert json.loads(body)["errors"][0]["code"] == "missing_columns"
    response = server.post(
        "alpha.localhost",
        IMPORTS,
        token=token,
        files={"file": ("p.csv", b"sku,name,price\r\n" + b"z" * 1000, "text/csv")},
    )
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == (
        "missing_columns"
    )
