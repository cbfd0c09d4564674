"""Requests Django refuses to read answer in the one error shape, on every path.

Django raises ``TooManyFieldsSent`` or ``RequestDataTooBig`` lazily, wherever the query
string or a form body is first read: in routing, a throttle, DRF's filters or the admin.
Outside DRF that is Django's 400 page, an HTML debug page with ``DEBUG`` on. Reading them
here first, before any other middleware, turns each into a 400/413 JSON error at once.
Multipart bodies are left alone: they are streamed to upload handlers that the view picks.
"""

from __future__ import annotations

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse

from .errors import malformed_request

FORM = "application/x-www-form-urlencoded"


class MalformedRequestMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.GET  # noqa: B018  (parsed now, and cached for every later reader)
            if request.method == "POST" and request.content_type == FORM:
                request.POST  # noqa: B018
        except SuspiciousOperation as exc:
            return malformed_request(exc).to_response()
        return self.get_response(request)
