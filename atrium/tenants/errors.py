"""Domain errors of the tenancy kernel; each has a stable machine-readable ``code``."""


class TenantError(Exception):
    code = "tenant_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TenantError):
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
