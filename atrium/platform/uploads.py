"""Request body limits, enforced while a body arrives instead of after it is buffered.

Django reads a body before any view can look at its size: its ASGI handler spools the whole
body into a temporary file first, and its multipart parser then copies files out of it. So
the limit, ``ATRIUM_REQUEST_MAX_BYTES``, is enforced where the bytes come in:

* ``BodySizeLimit``, ASGI middleware in front of Django's HTTP handler (``config/asgi.py``):
  a ``Content-Length`` above the limit is answered before a byte of the body is read (and
  before uvicorn sends ``100 Continue``); a body without one (``Transfer-Encoding: chunked``)
  is cut off as soon as it passes the limit, and one that ends within it is given its
  length, so that Django parses it (Django reads a multipart body without one as empty).
* ``SizeLimitUploadHandler``, Django's upload handler mechanism (first of
  ``FILE_UPLOAD_HANDLERS``), for every other way a multipart body reaches Django (WSGI,
  the test client): a declared length above the limit is refused before parsing.

Both answer the one error shape: 413 ``request_too_large``. Smaller limits of their own
(``DATA_UPLOAD_MAX_MEMORY_SIZE`` for form and JSON bodies, an endpoint's largest file) still
apply below this one.
"""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

from atrium.conf import atrium_settings
from atrium.errors import error_body

CODE = "request_too_large"


def max_request_bytes() -> int:
    return atrium_settings.REQUEST_MAX_BYTES


def too_large_message(limit: int) -> str:
    return (
        f"The request body is larger than {limit} bytes, the most this server accepts: "
        "send a smaller file or split it."
    )


class UploadTooLarge(RequestDataTooBig):
    """A multipart body past the limit (the API answers 413 ``request_too_large``)."""


class SizeLimitUploadHandler(FileUploadHandler):
    """Refuses a multipart body by its declared length, before any part is parsed.

    That length bounds the body (HTTP servers deliver no more than it declares, and Django
    parses a multipart body without one as empty), so no file can stream past it. The
    handler keeps nothing: the memory and temporary-file handlers after it store the files.
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = max_request_bytes()

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.limit:
            raise UploadTooLarge(too_large_message(self.limit))
        return None  # the parsing is left to Django and the handlers after this one

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


class BodySizeLimit:
    """ASGI middleware: 413 for HTTP bodies past ``limit`` bytes, by ``Content-Length``
    before reading and by counting while streaming."""

    def __init__(self, app, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit if self.limit is not None else max_request_bytes()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return

        # Our own copy of the headers: a chunked body gets its length added below.
        headers = list(scope.get("headers", ()))
        scope = {**scope, "headers": headers}
        received = 0
        cut_off = False
        started = False

        async def limited_receive():
            nonlocal received, cut_off
            if cut_off:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Django's reader stops at a disconnect and answers nothing; the 413
                    # goes out below, and the rest of the body is never read.
                    cut_off = True
                    return {"type": "http.disconnect"}
                if declared is None and not message.get("more_body", False):
                    # Django builds the request from the scope after it has read the body;
                    # without a length it would parse a chunked form or upload as empty.
                    headers.append((b"content-length", str(received).encode()))
            return message

        async def watched_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)
        if cut_off and not started:
            await _send_too_large(send, limit)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _send_too_large(send, limit: int) -> None:
    body = json.dumps(error_body(413, CODE, too_large_message(limit))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
