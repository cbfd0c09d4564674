"""The SSRF rules of webhook URLs, checked when an endpoint is saved and again before
every attempt (``resolve_target``), so that a name re-pointed at an internal address
(DNS rebinding) is refused at delivery time too; the attempt then connects to the very
address that was checked (``delivery.py``), never resolving the name a second time.

A URL is refused when it is longer than 2,048 characters, carries credentials, is not
http(s) (https only with ATRIUM_WEBHOOK_REQUIRE_HTTPS), or when its host is, or resolves
to, an address that is loopback, private, link-local, multicast, reserved or unspecified,
unless the host is listed, as written, in ATRIUM_WEBHOOK_ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from atrium.conf import atrium_settings

from .models import URL_MAX_LENGTH

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL breaks a rule; ``code`` is the API's error code, the message says why."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """Where an attempt goes: the URL as given, and the checked address to connect to."""

    url: str
    scheme: str
    host: str  # as written (lower case), for the Host header and TLS SNI
    port: int
    address: str  # the checked IP
    path: str  # path and query

    @property
    def address_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        ip = ipaddress.ip_address(self.address)
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{netloc}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def allowed_hosts() -> set[str]:
    raw = atrium_settings.WEBHOOK_ALLOWED_HOSTS
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return {item.strip().lower().strip("[]") for item in items if item.strip()}


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def parse(url: str) -> SplitResult:
    """The URL's parts after the rules that need no lookup; raises ``UrlRefused``."""
    if len(url) > URL_MAX_LENGTH:
        raise UrlRefused(f"The URL is longer than {URL_MAX_LENGTH} characters.", "url_too_long")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise UrlRefused("The URL cannot be parsed.", "invalid_url") from None
    schemes = ("https",) if atrium_settings.WEBHOOK_REQUIRE_HTTPS else ("http", "https")
    if parts.scheme.lower() not in schemes:
        raise UrlRefused(
            f"The URL must start with {' or '.join(s + '://' for s in schemes)}.",
            "url_scheme_not_allowed",
        )
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(
            "The URL must not carry credentials (user:password@); verify deliveries with "
            "the signing secret instead.",
            "url_credentials",
        )
    if not parts.hostname:
        raise UrlRefused("The URL has no host.", "invalid_url")
    return parts


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UrlRefused(f"The host {host!r} does not resolve.", "url_unresolvable") from None
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if ip not in found:
            found.append(ip)
    return found


def resolve_target(url: str) -> Target:
    """Check ``url`` and resolve its host once; every address it resolves to must be
    public (or the host allowed), and the first is the one to connect to."""
    parts = parse(url)
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    literal = _literal(host)
    addresses = [literal] if literal is not None else _resolve(host, port)
    if not addresses:
        raise UrlRefused(f"The host {host!r} does not resolve.", "url_unresolvable")
    if host not in allowed_hosts():
        for ip in addresses:
            if not is_public(ip):
                raise UrlRefused(
                    f"The URL's host {host!r} is or resolves to a non-public address ({ip}): "
                    "webhooks go to public addresses only.",
                    "url_not_public",
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]), path=path
    )


def check_url(url: str) -> str:
    """The URL, normalised (stripped), if it may be saved; raises ``UrlRefused``."""
    url = url.strip()
    resolve_target(url)
    return url
