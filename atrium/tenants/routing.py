"""Host routing: the ``Host`` header → the tenant that serves it (or a refusal), and the
middleware that runs each request in that tenant's scope.

Which tenant serves a host is read from the host directory (``directory.py``): an
in-process and Redis copy, versioned in Redis, with no SQL per request once warm.
``resolve_host`` is the one decision, for HTTP here and for WebSocket connections
(``atrium/platform/realtime/middleware.py``); a refusal is an error of the tenancy kernel
(``errors.py``), answered in the one error shape.

On HTTP, a host this process has a copy of is confirmed by the one ``MGET`` that reads the
directory version together with what the request will read from Redis (``readahead.py``):
the user of its token and its cached response. When the version moved, or Redis does not
answer, the request is routed the plain way (``resolve_host``), exactly as without the
copy.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.urls import set_urlconf
from django_tenants.postgresql_backend.base import FakeTenant

from atrium.conf import atrium_settings
from atrium.errors import AtriumError

from . import errors, readahead
from .context import public_scope, tenant_scope
from .directory import VERSION_KEY, TenantRecord, directory, redis_client
from .models import Tenant, TenantStatus

# Matched with fullmatch: '$' would also match before a trailing newline.
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def normalize_host(raw_host: str) -> str | None:
    """Lower-case host without port or trailing dot; None when it is not a DNS name.

    Only the one root dot of a fully qualified name is dropped: ``beta.localhost..`` has an
    empty label, so it is no host at all (not ``beta.localhost``).
    """
    host = raw_host.strip().lower()
    if host.startswith("["):  # IPv6 literal: never a tenant
        return None
    host = host.rsplit(":", 1)[0] if ":" in host else host
    host = host.removesuffix(".")
    if not host or len(host) > 253:
        return None
    labels = host.split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return host


def is_ip_literal(raw_host: str) -> bool:
    """True for any spelling of an IP address: ``127.0.0.1``, ``::1``, ``[::1]``, and the
    numeric IPv4 forms browsers and resolvers accept (``2130706433``, ``0x7f.1``, ``127.1``).

    A host whose last label is a number (decimal, octal or ``0x`` hex) is parsed as IPv4 by
    the WHATWG URL standard and by ``inet_aton``, so it never names a DNS host.
    """
    text = raw_host.strip().lower()
    if text.startswith("["):  # only IPv6 literals are bracketed
        return True
    try:
        ipaddress.ip_address(text.split("%", 1)[0])  # "%": an IPv6 zone index
        return True
    except ValueError:
        pass
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text  # drop a port
    last = host.removesuffix(".").rsplit(".", 1)[-1]
    return bool(_NUMERIC_LABEL.fullmatch(last))


def is_public_host(host: str) -> bool:
    return host == atrium_settings.BASE_DOMAIN or host in atrium_settings.PUBLIC_HOSTS


@dataclass(frozen=True, slots=True)
class HostResolution:
    """What a host is: the platform, an active tenant, or a refusal."""

    public: bool = False
    tenant: Tenant | None = None
    refusal: AtriumError | None = None

    @property
    def code(self) -> str:
        """The refusal's code (a refused socket's close reason)."""
        return self.refusal.code if self.refusal is not None else ""


# A tenant that exists but does not serve: each status has its own code (HTTP 403, and the
# close reason of a refused or closed socket, 4403).
_STATUS_REFUSALS = {
    TenantStatus.SUSPENDED: errors.TenantSuspended,
    TenantStatus.ARCHIVED: errors.TenantArchived,
}


def resolve_host(host: str | None) -> HostResolution:
    """The one decision of which tenant (if any) serves ``host``, for HTTP and WebSocket."""
    if host is None:
        return HostResolution(refusal=errors.InvalidHost())
    if is_public_host(host):
        return HostResolution(public=True)
    return _resolution(host, directory.lookup(host))


def _resolution(host: str, record: TenantRecord | None) -> HostResolution:
    if record is None:
        return HostResolution(refusal=errors.HostNotServed(host=host))
    refusal = _STATUS_REFUSALS.get(record.status)
    if refusal is not None:
        return HostResolution(refusal=refusal())
    if record.status != TenantStatus.ACTIVE:
        return HostResolution(refusal=errors.TenantProvisioning())
    tenant = record.to_tenant()
    tenant.domain_url = host
    return HostResolution(tenant=tenant)


class TenantRoutingMiddleware:
    """Resolves the tenant from ``Host`` and runs the rest of the request in its scope."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            host = normalize_host(request.get_host())
        except DisallowedHost:
            host = None
        if host is not None and not is_public_host(host):
            ahead = self.read_ahead(request, host)
            if ahead is not None:
                request.tenant, values = ahead
                with tenant_scope(request.tenant), readahead.values_read_ahead(values):
                    return self.get_response(request)
        resolution = resolve_host(host)
        if resolution.public:
            # django-tenants' admin templates read request.tenant.schema_name.
            request.tenant = FakeTenant(schema_name=settings.PUBLIC_SCHEMA_NAME)
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
            with public_scope():
                return self.get_response(request)
        if resolution.refusal is not None:
            return resolution.refusal.to_response()
        request.tenant = resolution.tenant
        with tenant_scope(resolution.tenant):
            return self.get_response(request)

    @staticmethod
    def read_ahead(request: HttpRequest, host: str) -> tuple[Tenant, dict] | None:
        """The active tenant of ``host`` from this process's copy of the directory and the
        values of the request's read-ahead keys, in one ``MGET`` with the directory version
        that confirms the copy; None (route the plain way) when there is no copy of an
        active tenant, the version moved or Redis does not answer."""
        local = directory.local_record(host)
        if local is None:
            return None
        record, version = local
        resolution = _resolution(host, record)
        if resolution.tenant is None:  # refused: the plain way answers it
            return None
        with tenant_scope(resolution.tenant):
            keys = readahead.keys_for(request)
            try:
                shared_version, *values = redis_client().mget([VERSION_KEY, *keys])
            except redis.RedisError:
                return None
        if not directory.confirm(shared_version, version):
            return None
        return resolution.tenant, dict(zip(keys, values, strict=True))
