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


class OriginInvalid(InvalidInput):
    code = "origin_invalid"


class OriginNotFound(TenantError):
    code = "origin_not_found"


class TenantNotFound(TenantError):
    code = "tenant_not_found"


class TenantStateError(TenantError):
    code = "tenant_state"


class TemplateNotReady(TenantError):
    code = "template_not_ready"
