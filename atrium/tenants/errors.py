"""Domain errors of the tenancy kernel; each has a stable machine-readable ``code``.

Also the codes of the answers routing gives before any view runs (``routing.py``,
``resolve_host``), declared in the registry of error codes (``codes.py``).
"""

from .codes import error_code

INVALID_HOST = error_code(400, "invalid_host", "The Host header is not a valid host name.")
TENANT_NOT_FOUND = error_code(404, "tenant_not_found", "No tenant serves this host.")
TENANT_SUSPENDED = error_code(403, "tenant_suspended", "The tenant of this host is suspended.")
TENANT_PROVISIONING = error_code(
    503, "tenant_provisioning", "The tenant of this host is not ready yet; retry shortly."
)


class TenantError(Exception):
    """A request about tenants refused (the API answers 409, or 400 for invalid input)."""

    status_code = 409
    code = "tenant_error"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        error_code(cls.status_code, cls.code)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TenantError):
    status_code = 400
    code = "invalid"


class SlugInvalid(InvalidInput):
    code = "slug_invalid"


class SlugReserved(InvalidInput):
    code = "slug_reserved"


class SlugTaken(TenantError):
    code = "slug_taken"


class DomainInvalid(InvalidInput):
    code = "domain_invalid"


class DomainTaken(TenantError):
    code = "domain_taken"


class DomainNotFound(TenantError):
    code = "domain_not_found"


class OriginInvalid(InvalidInput):
    code = "origin_invalid"


class OriginNotFound(TenantError):
    code = "origin_not_found"


class TenantNotFound(TenantError):
    code = "tenant_not_found"


class TenantStateError(TenantError):
    code = "tenant_state"


class TenantSuspended(TenantError):
    """Routing's answer for a suspended tenant's hosts (HTTP 403, socket close 4403)."""

    code = "tenant_suspended"
    default_message = "This tenant is suspended."


class TenantArchived(TenantError):
    """Routing's answer for an archived (deleted, data kept) tenant's hosts (403, 4403)."""

    code = "tenant_archived"
    default_message = "This tenant is archived: it no longer serves requests."


class TemplateNotReady(TenantError):
    code = "template_not_ready"


error_code(TenantError.status_code, TenantError.code, TenantError.__doc__)
