"""One error shape for every API error (drf-standardized-errors), domain errors included.

``{"type": "validation_error" | "client_error" | "server_error",
   "errors": [{"code": "...", "detail": "...", "attr": "field" | null}]}``

Every code an answer can carry is in the registry of error codes
(``atrium/tenants/codes.py``): DRF's own codes are declared below, an ``APIError``
subclass is declared by being defined, and the OpenAPI schema lists the registry.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.exceptions import (
    ImproperlyConfigured,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.module_loading import autodiscover_modules
from drf_standardized_errors.handler import ExceptionHandler
from kombu.exceptions import OperationalError as BrokerUnreachable
from rest_framework import exceptions, status

from atrium.platform.errors import DomainError, QueueUnavailable
from atrium.tenants.codes import error_code, is_registered
from atrium.tenants.errors import TenantError

logger = logging.getLogger(__name__)

# DRF's own codes, as its exceptions and the default handlers send them.
for _status, _code, _description in (
    (400, "parse_error", "The body is not valid JSON (or not valid form data)."),
    (400, "invalid", "A value is not valid."),
    (401, "not_authenticated", "No credentials were sent."),
    (401, "authentication_failed", "The credentials were refused."),
    (403, "permission_denied", "You may not do this."),
    (404, "not_found", "Nothing is here: no such object, page or URL."),
    (405, "method_not_allowed", "This URL does not take that method."),
    (406, "not_acceptable", "No answer in a media type the Accept header allows."),
    (415, "unsupported_media_type", "The body's Content-Type is not accepted here."),
    (429, "throttled", "Too many requests; retry after Retry-After seconds."),
    (500, "error", "A server error occurred."),
):
    error_code(_status, _code, _description)


class APIError(exceptions.APIException):
    """An API exception of ours; defining one registers its status and code."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        error_code(cls.status_code, cls.default_code, str(cls.default_detail))


class DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError | TenantError, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(detail=error.message, code=error.code)
        self.wait = getattr(error, "retry_after", None)  # the handler sends Retry-After


class PayloadTooLarge(APIError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class TooManyFields(APIError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = (
        "Too many query parameters or form fields (DATA_UPLOAD_MAX_NUMBER_FIELDS); send fewer."
    )
    default_code = "too_many_fields"


class TooManyFiles(APIError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Too many files in one request (DATA_UPLOAD_MAX_NUMBER_FILES); send fewer."
    default_code = "too_many_files"


class BadRequest(APIError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is malformed."
    default_code = "bad_request"


# Seconds a client is told to wait when the database cannot be reached.
DATABASE_RETRY_AFTER = 5


class DatabaseUnavailable(APIError):
    """PostgreSQL cannot be reached (down, restarting, connection lost): a clean 503 the
    client may retry, instead of a 500 that says the request itself was wrong."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable. Please try again in a few seconds."
    default_code = "database_unavailable"

    def __init__(self, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(detail, code)
        self.wait = DATABASE_RETRY_AFTER  # the exception handler sends Retry-After


def is_database_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` means the database could not be reached (not a bad query):
    Django's OperationalError (connection refused, server shutting down, connection lost
    mid-query) or InterfaceError (the connection is closed)."""
    return isinstance(exc, OperationalError | InterfaceError)


def malformed_request(exc: BaseException | None) -> APIError | None:
    """The API error for a request Django refused to read (too big, too many fields, …),
    wherever it surfaced: in a DRF view, a plain view, or a middleware."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, TooManyFieldsSent):
        return TooManyFields()
    if isinstance(exc, TooManyFilesSent):
        return TooManyFiles()
    if isinstance(exc, SuspiciousOperation):
        return BadRequest()
    return None


def error_response(exc: exceptions.APIException) -> JsonResponse:
    """``exc`` in the one error shape, for answers given outside DRF (Django's error
    handlers, middleware)."""
    kind = "server_error" if exc.status_code >= 500 else "client_error"
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    body = {"type": kind, "errors": [{"code": code, "detail": str(exc.detail), "attr": None}]}
    response = JsonResponse(body, status=exc.status_code)
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(exc.wait)
    return response


class AtriumExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if is_database_outage(exc):
            return DatabaseUnavailable()
        if isinstance(exc, BrokerUnreachable):  # a task sent while the broker is away
            exc = QueueUnavailable(
                "Background work cannot be started right now. Please try again in a few seconds."
            )
        if isinstance(exc, DomainError) and exc.field:
            return exceptions.ValidationError(
                {exc.field: [exceptions.ErrorDetail(exc.message, code=exc.code)]}
            )
        if isinstance(exc, DomainError):
            return DomainAPIException(exc, exc.status_code)
        if isinstance(exc, TenantError):
            return DomainAPIException(exc, exc.status_code)
        malformed = malformed_request(exc)
        if malformed is not None:
            return malformed
        if isinstance(exc, DjangoValidationError):  # a model's full_clean() in a service
            return exceptions.ValidationError(
                detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            )
        return super().convert_known_exceptions(exc)

    def run(self):
        response = super().run()
        if response is not None:
            check_registered(response.status_code, response.data)
        return response


def check_registered(status_code: int, data) -> None:
    """Every code of a non-400 answer must be registered, or the schema would not list it
    and a generated client would crash on it: logged, and an error in the test settings."""
    if status_code == 400 or not isinstance(data, dict):
        return
    for error in data.get("errors", ()):
        code = error.get("code") if isinstance(error, dict) else None
        if code and not is_registered(status_code, code):
            load_error_codes()  # a code is declared in a module nobody imported yet
        if code and not is_registered(status_code, code):
            message = (
                f"error code {code!r} of a {status_code} answer is not registered: declare it "
                "with atrium.tenants.codes.error_code() in its app's errors module"
            )
            if settings.ATRIUM_ERROR_CODES_STRICT:
                raise ImproperlyConfigured(message)
            logger.error(message)


@functools.cache
def load_error_codes() -> None:
    """Import every module that declares error codes: the ``errors`` module of each
    installed app, and the API's own (the schema and the check above ask for them)."""
    from atrium.platform.api import parsers, throttling  # noqa: F401

    autodiscover_modules("errors")
