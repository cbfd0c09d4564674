"""The API's exception handler: every error a view raises, in the one error shape.

An ``AtriumError`` (``atrium/errors.py``) is answered with its own body, status and
``Retry-After``; DRF's exceptions through drf-standardized-errors, in the same shape;
infrastructure failures (PostgreSQL, the broker) and requests Django refused to read are
turned into ``AtriumError``s first. Every code an answer can carry is in the registry of
error codes (``atrium/errors.py``): DRF's own codes are declared below, and the OpenAPI
schema lists the registry.
"""

from __future__ import annotations

import functools
import logging

from django.core.exceptions import (
    ImproperlyConfigured,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError, ProgrammingError
from django.utils.module_loading import autodiscover_modules
from drf_standardized_errors.handler import ExceptionHandler
from kombu.exceptions import OperationalError as BrokerUnreachable
from rest_framework import exceptions

from atrium.conf import atrium_settings
from atrium.errors import (
    AtriumError,
    InvalidInput,
    PayloadTooLarge,
    ServiceUnavailable,
    error_code,
    is_registered,
)
from atrium.platform.errors import QueueUnavailable

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


class AtriumAPIException(exceptions.APIException):
    """An ``AtriumError`` on its way through DRF's exception handler."""

    def __init__(self, error: AtriumError) -> None:
        self.status_code = error.status_code
        self.error = error
        super().__init__(detail=error.message, code=error.code)


class TooManyFields(InvalidInput):
    """Too many query parameters or form fields (DATA_UPLOAD_MAX_NUMBER_FIELDS); send fewer."""

    code = "too_many_fields"
    message_template = (
        "Too many query parameters or form fields (DATA_UPLOAD_MAX_NUMBER_FIELDS); send fewer."
    )


class TooManyFiles(InvalidInput):
    """Too many files in one request (DATA_UPLOAD_MAX_NUMBER_FILES); send fewer."""

    code = "too_many_files"
    message_template = "Too many files in one request (DATA_UPLOAD_MAX_NUMBER_FILES); send fewer."


class BadRequest(InvalidInput):
    """The request is malformed."""

    code = "bad_request"
    message_template = "The request is malformed."


# Seconds a client is told to wait when the database cannot be reached.
DATABASE_RETRY_AFTER = 5


class DatabaseUnavailable(ServiceUnavailable):
    """The service is temporarily unavailable. Please try again in a few seconds.

    PostgreSQL cannot be reached (down, restarting, connection lost): a clean 503 the
    client may retry, instead of a 500 that says the request itself was wrong."""

    code = "database_unavailable"
    retry_after = DATABASE_RETRY_AFTER


def is_database_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` means the database could not be reached (not a bad query):
    Django's OperationalError (connection refused, server shutting down, connection lost
    mid-query) or InterfaceError (the connection is closed)."""
    return isinstance(exc, OperationalError | InterfaceError)


class SchemaMigrating(ServiceUnavailable):
    """A table this request needs is being migrated; retry after Retry-After seconds.

    The code and the tenant's schema disagree about a table or column (code deployed ahead
    of a schema still being migrated, or a schema mid-rollout): a 503 the client may retry,
    not a 500 that blames the request."""

    code = "schema_migrating"
    message_template = "This data is being migrated. Please try again in a few seconds."
    retry_after = DATABASE_RETRY_AFTER


# SQLSTATEs of a statement naming a column or table the schema lacks (not yet, or no more).
SCHEMA_MISMATCH_SQLSTATES = {"42703", "42P01"}  # undefined_column, undefined_table


def is_schema_mismatch(exc: BaseException | None) -> bool:
    return isinstance(exc, ProgrammingError) and (
        getattr(exc.__cause__, "sqlstate", None) in SCHEMA_MISMATCH_SQLSTATES
    )


def infrastructure_error(exc: BaseException | None) -> AtriumError | None:
    """The 503 for a database that cannot answer this request right now: unreachable, or
    its schema mid-change. A schema mismatch is still a bug when no migration is running,
    so it is logged at error level with its traceback while the client gets a 503."""
    if is_database_outage(exc):
        return DatabaseUnavailable()
    if is_schema_mismatch(exc):
        logger.error("schema mismatch answered 503 schema_migrating", exc_info=exc)
        return SchemaMigrating()
    return None


def malformed_request(exc: BaseException | None) -> AtriumError | None:
    """The error for a request Django refused to read (too big, too many fields, …),
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


class AtriumExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if infrastructure := infrastructure_error(exc):
            exc = infrastructure
        elif isinstance(exc, BrokerUnreachable):  # a task sent while the broker is away
            exc = QueueUnavailable(
                "Background work cannot be started right now. Please try again in a few seconds."
            )
        else:
            exc = malformed_request(exc) or exc
        if isinstance(exc, AtriumError):  # the one root: its own body, or a field's error
            if exc.field:
                return exceptions.ValidationError(
                    {exc.field: [exceptions.ErrorDetail(exc.message, code=exc.code)]}
                )
            return AtriumAPIException(exc)
        if isinstance(exc, DjangoValidationError):  # a model's full_clean() in a service
            return exceptions.ValidationError(
                detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            )
        return super().convert_known_exceptions(exc)

    def format_exception(self, exc: exceptions.APIException) -> dict:
        if isinstance(exc, AtriumAPIException):
            return exc.error.to_body()
        return super().format_exception(exc)

    def get_headers(self, exc: exceptions.APIException) -> dict:
        headers = super().get_headers(exc)
        if isinstance(exc, AtriumAPIException) and exc.error.retry_after:
            headers["Retry-After"] = str(int(exc.error.retry_after))
        return headers

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
                "with atrium.errors.error_code() in its app's errors module"
            )
            if atrium_settings.ERROR_CODES_STRICT:
                raise ImproperlyConfigured(message)
            logger.error(message)


@functools.cache
def load_error_codes() -> None:
    """Import every module that declares error codes: the ``errors`` module of each
    installed app, and the API's own (the schema and the check above ask for them)."""
    from atrium.platform.api import parsers, throttling  # noqa: F401

    autodiscover_modules("errors")
