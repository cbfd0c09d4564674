"""Domain errors raised by services; the API turns each into its one error shape.

Every subclass registers its ``(status_code, code)`` in the registry of error codes
(``atrium/tenants/codes.py``) by being defined; a ``code=`` given where one is raised is
declared with ``error_code()`` in its app's ``errors`` module.
"""

from atrium.tenants.codes import error_code


class DomainError(Exception):
    """A business rule said no. ``code`` is stable and machine-readable."""

    status_code = 400
    code = "domain_error"
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        error_code(cls.status_code, cls.code, (cls.__doc__ or "").split("\n")[0])

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The input field the error is about, when there is one (shown as the error's attr).
        self.field = field
        if code:
            self.code = code


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ServiceUnavailable(DomainError):
    """A service the operation needs is down; nothing was done, the client may retry."""

    status_code = 503
    code = "service_unavailable"
    retry_after = 5


class QueueUnavailable(ServiceUnavailable):
    """The task broker cannot take a message: the background work was not started."""

    code = "queue_unavailable"


error_code(DomainError.status_code, DomainError.code, DomainError.__doc__)
