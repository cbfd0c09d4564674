"""One error shape for every API error (drf-standardized-errors), domain errors included.

``{"type": "validation_error" | "client_error" | "server_error",
   "errors": [{"code": "...", "detail": "...", "attr": "field" | null}]}``
"""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from drf_standardized_errors.handler import ExceptionHandler
from kombu.exceptions import OperationalError as BrokerUnreachable
from rest_framework import exceptions, status

from atrium.platform.errors import DomainError, QueueUnavailable
from atrium.tenants.errors import InvalidInput, TenantError


class DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError | TenantError, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(detail=error.message, code=error.code)
        self.wait = getattr(error, "retry_after", None)  # the handler sends Retry-After


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


# Seconds a client is told to wait when the database cannot be reached.
DATABASE_RETRY_AFTER = 5


class DatabaseUnavailable(exceptions.APIException):
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
            status_code = 400 if isinstance(exc, InvalidInput) else status.HTTP_409_CONFLICT
            return DomainAPIException(exc, status_code)
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge()
        if isinstance(exc, DjangoValidationError):  # a model's full_clean() in a service
            return exceptions.ValidationError(
                detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            )
        return super().convert_known_exceptions(exc)
