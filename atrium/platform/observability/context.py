"""The log context: who and what the current request, task or socket is about.

One ``LogContext`` per unit of work, held in a ContextVar: the HTTP middleware, the Celery
signal handlers and the socket middleware bind one (``bind``) and reset it in a ``finally``.
The log filter (``logs.ContextFilter``) copies it onto every record, so a line written
anywhere below carries the request's tenant and id without being passed them.

The tenant itself is read from the tenant context (``atrium.tenants.context``) when a scope
is active; the context keeps the last tenant seen (``note_tenant``) for the records written
after the scope has ended (the access log line, written by the outermost middleware).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from django.utils.functional import empty

from atrium.tenants.context import NoTenantError, active_scope

# What an incoming X-Request-ID may be; anything else is replaced by one of ours.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The Celery message header that carries it into the tasks a request sends.
REQUEST_ID_HEADER = "atrium_request_id"
PUBLIC = "public"


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """``value`` when it is an acceptable request id (≤128 of ``[A-Za-z0-9._-]``), else a
    new one: an id goes into every log line, so it never carries spaces, quotes or
    newlines a client chose."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return new_request_id()


@dataclass(slots=True)
class LogContext:
    """The fields every record of one request, task or socket carries."""

    request_id: str
    kind: str = "http"  # http, task, socket
    method: str | None = None
    path: str | None = None
    tenant: str | None = None  # slug, "public", or None before routing
    tenant_id: str | None = None  # the tenant's id (a UUID), which a slug reuse never shares
    user_id: str | None = None
    # The API key's id when the request authenticated with one (API keys are to come:
    # their authentication sets ``request.api_key_id``, which the middleware copies here).
    api_key_id: object = None
    # The HTTP request, read for its authenticated user once authentication has run.
    request: object = None

    def current_user_id(self) -> object:
        if self.user_id is None and self.request is not None:
            self.user_id = authenticated_user_id(self.request)
        return self.user_id

    def note_tenant(self) -> None:
        """Remember the active scope's tenant (for the records written after it ends)."""
        tenant, tenant_id = current_tenant_fields()
        if tenant is not None:
            self.tenant, self.tenant_id = tenant, tenant_id


def authenticated_user_id(request) -> object:
    """The id of the user a request authenticated as, once authentication has run (DRF's
    authentication sets ``request.user``; Django's session middleware leaves a lazy object
    that is never evaluated here, as that would cost a query)."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject: evaluated or not
    if wrapped is None or wrapped is empty:
        return None
    if not getattr(wrapped, "is_authenticated", False):
        return None
    return str(wrapped.pk)


_current: ContextVar[LogContext | None] = ContextVar("atrium_log_context", default=None)


def current() -> LogContext | None:
    return _current.get()


def push(context: LogContext) -> Token:
    """Bind ``context`` until ``pop(token)`` (for signal pairs that cannot use ``bind``)."""
    return _current.set(context)


def pop(token: Token) -> None:
    _current.reset(token)


@contextmanager
def bind(context: LogContext) -> Iterator[LogContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context is not None else None


def current_tenant_fields() -> tuple[str | None, str | None]:
    """(slug, id) of the active tenant scope; ("public", None) in the public scope; (None,
    None) outside any scope."""
    try:
        scope = active_scope()
    except NoTenantError:
        return None, None
    if scope.tenant is not None:
        return scope.tenant.slug, str(scope.tenant.pk)
    return (PUBLIC if scope.is_public else scope.schema_name), None
