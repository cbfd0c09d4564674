"""The Redis key space: every key starts with its tenant (``t:<schema>:``) or ``p:``.

Cache keys, rate-limit buckets, locks, job progress, idempotency keys and the routing
directory are all built here, so a tenant's keys can be found and purged with one SCAN.
"""

from django.conf import settings

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
