"""What a tenant is called: its slug, display name, domains, URL and schema name.

Validated the same way by the CLI, the platform admin and the services. A schema name is
never reused (``fresh_schema_name``): it is the tenant's identity beyond PostgreSQL.
"""

from __future__ import annotations

import re
import secrets

from django.db import connection

from atrium.conf import atrium_settings
from atrium.errors import InvalidInput

from . import errors
from .context import public_scope
from .models import Domain, RetiredSchemaName, Tenant
from .routing import is_ip_literal, is_public_host, normalize_host

# Matched with fullmatch: '$' would also match before a trailing newline ("acme\n").
SLUG_PATTERN = re.compile(r"[a-z][a-z0-9-]{1,62}")
RESERVED_SLUGS = frozenset(
    {
        "public",
        "www",
        "admin",
        "api",
        "app",
        "apps",
        "static",
        "media",
        "assets",
        "mail",
        "smtp",
        "ftp",
        "ns",
        "ns1",
        "ns2",
        "dns",
        "status",
        "health",
        "help",
        "support",
        "docs",
        "blog",
        "billing",
        "auth",
        "login",
        "signup",
        "account",
        "accounts",
        "platform",
        "atrium",
        "root",
        "system",
        "internal",
        "template",
        "information-schema",
        "default",
        "test",
        "localhost",
    }
)
RESERVED_PREFIXES = ("pg-", "pg_")


def schema_name_for(slug: str) -> str:
    """The schema name a slug asks for; ``tenants create`` takes another one when this one is
    in use or was ever used (``fresh_schema_name``)."""
    return slug.replace("-", "_")


# The length of the random part of a schema name taken instead of a used one.
_SCHEMA_SUFFIX_BYTES = 4


def fresh_schema_name(slug: str) -> str:
    """A schema name for a new tenant that no tenant, live or purged, has ever had.

    A tenant's schema name is its identity beyond PostgreSQL (Redis key space, channel
    groups, storage folder, Celery messages), so it is never reused: a slug's first tenant
    gets ``schema_name_for(slug)``, a later one ``<that>_<8 random hex>``. Checked inside
    the creation's transaction; purges record the names they free (``RetiredSchemaName``).
    """
    base = schema_name_for(slug)
    name = base
    while _schema_name_used(name):
        suffix = secrets.token_hex(_SCHEMA_SUFFIX_BYTES)
        name = f"{base[: 62 - len(suffix)]}_{suffix}"
    return name


def _schema_name_used(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {Tenant._meta.db_table} WHERE schema_name = %s) "
            f"OR EXISTS (SELECT 1 FROM {RetiredSchemaName._meta.db_table} WHERE name = %s) "
            "OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
            [name, name, name],
        )
        return cursor.fetchone()[0]


def tenant_url(host: str) -> str:
    port = f":{atrium_settings.SITE_PORT}" if atrium_settings.SITE_PORT else ""
    return f"{atrium_settings.SITE_SCHEME}://{host}{port}/"


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug) or slug.endswith("-"):
        raise errors.SlugInvalid(
            f"Invalid slug {slug!r}: use 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'."
        )
    if slug in RESERVED_SLUGS or slug.startswith(RESERVED_PREFIXES):
        raise errors.SlugReserved(f"The slug {slug!r} is reserved; choose another.")
    return slug


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A tenant needs a name of 1-200 characters (--name).")
    return name


def validate_domain(raw: str, *, slug: str) -> str:
    if is_ip_literal(raw or ""):
        raise errors.DomainInvalid(
            f"Invalid domain {raw!r}: an IP address never routes to a tenant; give a host "
            "name like shop.example.com."
        )
    host = normalize_host(raw or "")
    if host is None or ":" in (raw or "") or "." not in host:
        raise errors.DomainInvalid(
            f"Invalid domain {raw!r}: give a host name like shop.example.com."
        )
    if is_public_host(host):
        raise errors.DomainInvalid(f"The domain {host!r} serves the platform itself.")
    base = atrium_settings.BASE_DOMAIN
    if host.endswith("." + base) and host != f"{slug}.{base}":
        raise errors.DomainInvalid(
            f"Subdomains of {base} belong to the tenant of that name; {slug!r} may only use "
            f"{slug}.{base} there."
        )
    return host


def domain_ensure_free(host: str) -> None:
    """Refuse a host another tenant (or this one) already has, naming who holds it.

    Only operators see this message (CLI, platform admin): the holder's slug is no secret
    to them and tells them where to look next.
    """
    with public_scope():
        holder = (
            Domain.objects.filter(domain__iexact=host)
            .values_list("tenant__slug", flat=True)
            .first()
        )
    if holder is not None:
        raise errors.DomainTaken(f"The domain {host!r} is already in use by tenant {holder!r}.")
