"""CORS per tenant: which browser origins may call a tenant's API, and the check.

django-cors-headers' middleware answers preflights (``OPTIONS`` with
``Access-Control-Request-Method``) under ``CORS_URLS_REGEX`` (the API) itself, before
authentication, and adds the CORS headers only when a ``check_request_enabled`` receiver
says yes. The receiver here says yes when the request's ``Origin`` is one of the tenant's
allowed origins, read from the routing directory's record of the tenant (no SQL once
warm). Any other origin gets an answer without CORS headers, which the browser refuses
to hand to the page.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from corsheaders.conf import conf
from corsheaders.signals import check_request_enabled
from django.dispatch import receiver
from django.http import HttpRequest

from . import errors

MAX_ORIGINS = 50
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORM = "write it as scheme://host[:port], e.g. https://app.example.com"


def _valid_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    if len(host) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in host.split("."))


def validate_origin(raw: str) -> str:
    """The origin as browsers send it in ``Origin`` (lower case, no default port), or
    ``OriginInvalid``: http or https, a host (DNS name in ASCII/punycode, IPv4 or [IPv6]),
    an optional port, and nothing else: no path (not even "/"), query, user or wildcard."""
    text = raw or ""  # no stripping: "https://x\n" is refused, not silently fixed
    if not text or "*" in text:
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: wildcards are not supported; {_FORM}.")
    if any(c.isspace() for c in text):
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: it contains white space; {_FORM}.")
    if not text.isascii():
        raise errors.OriginInvalid(
            f"Invalid origin {raw!r}: use the ASCII (punycode) host name; {_FORM}."
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: {_FORM}.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: the scheme must be http or https.")
    if parts.path or parts.query or parts.fragment or "?" in text or "#" in text:
        raise errors.OriginInvalid(
            f"Invalid origin {raw!r}: an origin has no path (not even a trailing /); {_FORM}."
        )
    if parts.username is not None or "@" in parts.netloc:
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: no user part; {_FORM}.")
    host = parts.netloc.lower()
    if port is not None or host.endswith(":"):
        host = host.rsplit(":", 1)[0]
    if not host or not _valid_host(host):
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: the host is not valid; {_FORM}.")
    if port == 0:
        raise errors.OriginInvalid(f"Invalid origin {raw!r}: the port must be 1-65535.")
    keep_port = port is not None and port != _DEFAULT_PORTS[scheme]
    return f"{scheme}://{host}:{port}" if keep_port else f"{scheme}://{host}"


def validate_origins(raw: Iterable[str]) -> list[str]:
    """Each origin validated, duplicates dropped (first kept), at most MAX_ORIGINS."""
    origins = list(dict.fromkeys(validate_origin(origin) for origin in raw))
    if len(origins) > MAX_ORIGINS:
        raise errors.OriginInvalid(f"A tenant may allow at most {MAX_ORIGINS} origins.")
    return origins


@receiver(check_request_enabled)
def tenant_allows_origin(sender, request: HttpRequest, **kwargs) -> bool:
    """django-cors-headers asks per request: CORS headers only for the tenant's own
    allowed origins, and only on the API (``CORS_URLS_REGEX``)."""
    origin = request.headers.get("origin")
    allowed = getattr(getattr(request, "tenant", None), "cors_origins", None)
    return bool(
        origin
        and allowed
        and origin in allowed
        and re.match(conf.CORS_URLS_REGEX, request.path_info)
    )
