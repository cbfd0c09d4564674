"""A tenant's namespaces: Redis keys ``t:<schema>:…`` (or ``p:``), channel groups
``t.<schema>.…`` and the storage folder ``<schema>/``.

Cache keys, rate-limit buckets, locks, job progress, idempotency keys and the routing
directory are all built here, so a tenant's keys can be found and purged with one SCAN;
so are channel group names and storage paths, so a purge finds every one of them.

All of them are built from the schema name, which is the tenant's identity: provisioning
never gives a schema name to a second tenant, not even after a purge
(``naming.fresh_schema_name``), so nothing of a purged tenant can reach a later
tenant with the same slug.
"""

import hashlib
import re

from django.conf import settings
from django_redis.client import DefaultClient
from django_redis.client.default import _main_exceptions
from django_redis.exceptions import ConnectionInterrupted

from .context import active_scope

PUBLIC_PREFIX = "p"


def prefix_for_schema(schema_name: str) -> str:
    if schema_name == settings.PUBLIC_SCHEMA_NAME:
        return PUBLIC_PREFIX
    return f"t:{schema_name}"


def scoped_key(purpose: str, *parts: object) -> str:
    """A key in the active scope's space: ``t:<schema>:<purpose>:<parts…>``."""
    return ":".join([prefix_for_schema(active_scope().schema_name), purpose, *map(str, parts)])


def public_key(purpose: str, *parts: object) -> str:
    """A platform-level key, whatever scope is active (used by host routing)."""
    return ":".join([PUBLIC_PREFIX, purpose, *map(str, parts)])


def tenant_key_pattern(schema_name: str) -> str:
    """The SCAN pattern that matches every key of one tenant."""
    return f"{prefix_for_schema(schema_name)}:*"


def cache_key(key: str, key_prefix: str, version: int) -> str:
    """django-redis KEY_FUNCTION: cache entries live in the active tenant's key space."""
    return scoped_key("cache", version, key)


class TenantCacheClient(DefaultClient):
    """django-redis' client, except that ``clear()`` empties the active scope's cache only.

    Its own ``clear()`` is FLUSHDB: called in one tenant it would drop every tenant's cache
    and everything else in the database (rate limits, locks and their fencing counters,
    idempotency claims, the routing directory).
    """

    def clear(self, client=None) -> None:
        if client is None:
            client = self.get_client(write=True)
        try:
            batch = []
            for key in client.scan_iter(match=scoped_key("cache") + ":*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch.clear()
            if batch:
                client.delete(*batch)
        except _main_exceptions as error:
            raise ConnectionInterrupted(connection=client) from error


# Channels accepts group names of ASCII alphanumerics, hyphens, underscores and periods,
# shorter than 100 characters (channels.layers.BaseChannelLayer).
GROUP_NAME_MAX_LENGTH = 99
_GROUP_PART = re.compile(r"[A-Za-z0-9_-]+")


def group_name(*parts: object) -> str:
    """A channel group of the active scope: ``t.<schema>.<parts…>`` (public: ``p.<parts…>``).

    A part may not contain a period, so no value can reach into another group's name. When
    a long schema name would make the name too long for Channels, the parts are replaced
    by their digest; the tenant prefix always stays readable.
    """
    return group_name_for_schema(active_scope().schema_name, *parts)


def group_name_for_schema(schema_name: str, *parts: object) -> str:
    """``group_name`` of the scope of ``schema_name`` (for operator code outside it)."""
    if not parts:
        raise ValueError("group_name() needs at least one part, e.g. group_name('tenant').")
    texts = [str(part) for part in parts]
    for text in texts:
        if not _GROUP_PART.fullmatch(text):
            raise ValueError(
                f"Invalid group name part {text!r}: use ASCII letters, digits, '-' and '_'."
            )
    prefix = _group_prefix(schema_name)
    name = ".".join([prefix, *texts])
    if len(name) > GROUP_NAME_MAX_LENGTH:
        digest = hashlib.sha256(".".join(texts).encode()).hexdigest()[:32]
        name = f"{prefix}.h{digest}"
    return name


def _group_prefix(schema_name: str) -> str:
    return prefix_for_schema(schema_name).replace(":", ".")


def tenant_group_pattern(schema_name: str) -> str:
    """The glob that matches every channel group of one tenant (and no other tenant's)."""
    if schema_name == settings.PUBLIC_SCHEMA_NAME:
        raise ValueError("The public scope's groups are not a tenant's.")
    return f"{_group_prefix(schema_name)}.*"


def storage_root_for_schema(schema_name: str) -> str:
    """The storage folder that holds every file of one tenant (exports, uploads, …)."""
    if schema_name == settings.PUBLIC_SCHEMA_NAME or not schema_name:
        raise ValueError("Only a tenant has a storage folder.")
    return schema_name
