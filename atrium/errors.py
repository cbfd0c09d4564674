"""The one error root of every layer, the one JSON shape of every error answer, and the
registry of the codes those answers carry.

A leaf module (Django and the standard library only), so that the tenancy kernel, the
platform and the apps all raise from the same root, modelled on Zulip's
``JsonableError``: an error class says its HTTP status, its stable ``code`` and its message
(a template filled from ``data_fields``); ``to_body()`` and ``to_response()`` give the one
shape, which the DRF exception handler, the routing middleware and Django's error
handlers all send:

``{"type": "validation_error" | "client_error" | "server_error",
   "errors": [{"code": "...", "detail": "...", "attr": "field" | null}]}``

(``validation_error`` answers, a field's errors, come from DRF's ValidationError.)

The registry of error codes: every ``code`` an HTTP error answer can carry, by status.
The OpenAPI schema lists exactly what is registered (one enum per status), so a client
generated from the schema knows every code the server sends:

* an ``AtriumError`` subclass is registered by being defined;
* any other code (a ``code=`` given where an error is raised, an answer DRF gives) is
  declared with ``error_code(status, code, description)`` in the ``errors`` module of its
  app (``atrium/<layer>/<app>/errors.py``), which the schema imports for every app.

400 answers are open: a field's validation codes (``required``, ``max_length``, …) come
from DRF and the serializers, so the schema documents ``code`` there as a string and
registered 400 codes only in its description. Every other status is a closed enum; in the
test settings (``ATRIUM_ERROR_CODES_STRICT``) an API answer with an unregistered code fails
loudly (``atrium.platform.api.errors.check_registered``) instead of crashing a generated
client later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.http import JsonResponse

# ------------------------------------------------------------------ the registry of codes


@dataclass(frozen=True, slots=True)
class ErrorCode:
    status: int
    code: str
    description: str


_lock = threading.Lock()
_registry: dict[int, dict[str, ErrorCode]] = {}


def error_code(status: int, code: str, description: str = "") -> str:
    """Declare that answers with ``status`` may carry ``code``; returns ``code``.

    Declaring a code twice for one status is fine (the first description given is kept)."""
    if not code or not code.replace("_", "").isalnum() or code != code.lower():
        raise ValueError(f"error codes are lower_snake_case words, not {code!r}")
    with _lock:
        known = _registry.setdefault(status, {})
        if code not in known or (description and not known[code].description):
            known[code] = ErrorCode(status, code, description)
    return code


def codes(status: int) -> list[str]:
    """The codes registered for ``status``, sorted."""
    with _lock:
        return sorted(_registry.get(status, {}))


def described(status: int) -> list[ErrorCode]:
    with _lock:
        return sorted(_registry.get(status, {}).values(), key=lambda entry: entry.code)


def statuses() -> list[int]:
    with _lock:
        return sorted(_registry)


def is_registered(status: int, code: str) -> bool:
    with _lock:
        return code in _registry.get(status, {})


# ------------------------------------------------------------------------ the one shape


def error_body(status: int, code: str, detail: str, *, attr: str | None = None) -> dict[str, Any]:
    """The one error shape, for an answer of ``status`` with one error."""
    kind = "server_error" if status >= 500 else "client_error"
    return {"type": kind, "errors": [{"code": code, "detail": detail, "attr": attr}]}


def error_response(
    status: int,
    code: str,
    detail: str,
    *,
    attr: str | None = None,
    retry_after: int | None = None,
) -> JsonResponse:
    """The one error shape as a response, for answers given outside DRF (routing, Django's
    error handlers, middleware); ``Retry-After`` when the client should wait."""
    response = JsonResponse(error_body(status, code, detail, attr=attr), status=status)
    if retry_after:
        response["Retry-After"] = str(int(retry_after))  # whole seconds, as DRF sends it
    return response


@contextmanager
def form_errors() -> Iterator[None]:
    """An ``AtriumError`` raised inside becomes Django's ``ValidationError`` with its message
    and code: how an admin form shows what a service or validator refuses."""
    try:
        yield
    except AtriumError as error:
        raise ValidationError(error.message, code=error.code) from None


# ---------------------------------------------------------------------------- the root


class AtriumError(Exception):
    """The root of every error a client can see (a bare one is a 400 ``invalid``).

    A subclass sets ``status_code``, ``code`` (stable, machine-readable) and
    ``message_template``, filled from the keyword arguments named in ``data_fields``
    (kept as attributes too); a message given where the error is raised replaces the
    template. Defining a subclass registers its status and code, described by the first
    line of its docstring.
    """

    status_code: ClassVar[int] = 400
    code: str = "invalid"
    message_template: ClassVar[str] = "The request is not valid."
    data_fields: ClassVar[tuple[str, ...]] = ()
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        error_code(cls.status_code, cls.code, (cls.__doc__ or "").split("\n")[0])

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        retry_after: int | None = None,
        **data: Any,
    ) -> None:
        unknown = set(data) - set(self.data_fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} takes no {', '.join(sorted(unknown))}")
        for name, value in data.items():
            setattr(self, name, value)
        if message is None:
            message = self.message_template.format(**data)
        super().__init__(message)
        self.message = message
        # The input field the error is about, when there is one (shown as the error's attr).
        self.field = field
        if code:
            self.code = code
        if retry_after is not None:
            self.retry_after = retry_after

    def to_body(self) -> dict[str, Any]:
        return error_body(self.status_code, self.code, self.message, attr=self.field)

    def to_response(self) -> JsonResponse:
        return error_response(
            self.status_code,
            self.code,
            self.message,
            attr=self.field,
            retry_after=self.retry_after,
        )


class InvalidInput(AtriumError):
    """A value is not valid."""


class PermissionDenied(AtriumError):
    """You may not do this."""

    status_code = 403
    code = "permission_denied"
    message_template = "You do not have permission to perform this action."


class NotFound(AtriumError):
    """Nothing is here: no such object, page or URL."""

    status_code = 404
    code = "not_found"
    message_template = "Not found."


class Conflict(AtriumError):
    """The request conflicts with the current state of what it names."""

    status_code = 409
    code = "conflict"
    message_template = "The request conflicts with the current state."


class PayloadTooLarge(AtriumError):
    """The request body is too large."""

    status_code = 413
    code = "request_too_large"
    message_template = "The request body is too large."


class ServiceUnavailable(AtriumError):
    """A service the operation needs is down; nothing was done, the client may retry."""

    status_code = 503
    code = "service_unavailable"
    message_template = "The service is temporarily unavailable. Please try again in a few seconds."
    retry_after = 5
