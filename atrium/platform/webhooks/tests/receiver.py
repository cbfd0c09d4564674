"""A real local HTTP receiver of webhooks for the tests and the benchmark: a threaded HTTP
server that records every request (headers, body, arrival time) and verifies each with the
``standardwebhooks`` package, with a behaviour per path (answer a status, hang, redirect,
answer a long body)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time()
    verified: bool | None = None
    payload: dict | None = None


@dataclass
class Behaviour:
    status: int = 200
    hang: float = 0.0  # seconds before answering (until shutdown at most)
    body: bytes = b"ok"
    location: str = ""  # with a 3xx
    fail_first: int = 0  # answer 500 to this many requests first


class Receiver:
    """``Receiver()`` as a context manager; ``url(path)``; ``secrets[path] = whsec_…`` to
    verify the requests of a path; ``behave(path, Behaviour(...))``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.received: list[Received] = []
        self.secrets: dict[str, list[str]] = {}
        self.behaviours: dict[str, Behaviour] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.verify = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and
            # the client's delayed ACK hold every keep-alive answer ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver._handle(self, body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.request_queue_size = 128
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def behave(self, path: str, behaviour: Behaviour) -> None:
        self.behaviours[path] = behaviour

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        path = handler.path
        item = Received(path=path, headers=dict(handler.headers.items()), body=body, at=time.time())
        secrets = self.secrets.get(path)
        if secrets and self.verify:
            item.verified = False
            for secret in secrets:
                try:
                    item.payload = Webhook(secret).verify(body, item.headers)
                    item.verified = True
                    break
                except WebhookVerificationError:
                    continue
        with self.lock:
            self.received.append(item)
            count = self.counts[path] = self.counts.get(path, 0) + 1
        behaviour = self.behaviours.get(path, Behaviour())
        if behaviour.hang:
            self.stopping.wait(behaviour.hang)
        status = 500 if count <= behaviour.fail_first else behaviour.status
        try:
            handler.send_response(status)
            if behaviour.location:
                handler.send_header("Location", behaviour.location)
            handler.send_header("Content-Length", str(len(behaviour.body)))
            handler.end_headers()
            handler.wfile.write(behaviour.body)
        except OSError:
            pass  # the sender gave up (timeout)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [item for item in self.received if item.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{len(self.at(path))} of {count} requests to {path} arrived")
