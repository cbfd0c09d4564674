"""Errors of the tenancy kernel, on the one error root (``atrium/errors.py``): what its
services refuse, and the answers routing gives before any view runs (``resolve_host``,
for HTTP and WebSocket alike)."""

from atrium.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceUnavailable

# -- Services (the CLI, the admin, the sign-up API): 400 for invalid input, else 409.


class SlugInvalid(InvalidInput):
    code = "slug_invalid"


class SlugReserved(InvalidInput):
    code = "slug_reserved"


class SlugTaken(Conflict):
    code = "slug_taken"


class DomainInvalid(InvalidInput):
    code = "domain_invalid"


class DomainTaken(Conflict):
    code = "domain_taken"


class DomainNotFound(Conflict):
    code = "domain_not_found"


class OriginInvalid(InvalidInput):
    code = "origin_invalid"


class OriginNotFound(Conflict):
    code = "origin_not_found"


class TenantNotFound(Conflict):
    code = "tenant_not_found"


class TenantStateError(Conflict):
    code = "tenant_state"


class TemplateNotReady(Conflict):
    code = "template_not_ready"


class ArchiveInvalid(InvalidInput):
    """A tenant archive that is not one, is damaged, or fails its checksums."""

    code = "archive_invalid"


class ArchiveTooNew(Conflict):
    """A tenant archive made by a newer Atrium: its schema is ahead of this code."""

    code = "archive_too_new"


class TransferFailed(Conflict):
    """pg_dump, pg_restore or psql is missing, too old for the server, or failed."""

    code = "transfer_failed"


# -- Routing's answers: HTTP status and code, and the close reason of a refused socket.


class InvalidHost(InvalidInput):
    """The Host header is not a valid host name."""

    code = "invalid_host"
    message_template = "The Host header is not a valid host name."


class HostNotServed(NotFound):
    """No tenant serves this host."""

    code = "tenant_not_found"
    message_template = "No tenant serves the host {host!r}."
    data_fields = ("host",)


class TenantSuspended(PermissionDenied):
    """The tenant of this host is suspended."""

    code = "tenant_suspended"
    message_template = "This tenant is suspended."


class TenantArchived(PermissionDenied):
    """The tenant of this host is archived (deleted, data kept)."""

    code = "tenant_archived"
    message_template = "This tenant is archived: it no longer serves requests."


class TenantProvisioning(ServiceUnavailable):
    """The tenant of this host is not ready yet; retry shortly."""

    code = "tenant_provisioning"
    message_template = "This tenant is not ready yet."
    retry_after = None
