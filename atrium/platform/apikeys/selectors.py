"""Reads of API keys: the tenant's listing, and the lookup that authenticates a request."""

from __future__ import annotations

from django.db.models import QuerySet

from . import crypto
from .models import APIKey


def api_key_list() -> QuerySet[APIKey]:
    """The tenant's keys that are not revoked (expired ones included), newest first."""
    return APIKey.objects.active().select_related("created_by")


def api_key_for(*, key: str, tenant_id: object) -> APIKey | None:
    """The usable key (not revoked, not expired) that ``key`` is, with its creator, in the
    current tenant's schema; None for anything else. One query and one SHA-512."""
    prefix = crypto.key_prefix(key)
    if prefix is None:
        return None
    # order_by(): the prefix is unique, so no sort for the model's default ordering.
    found = (
        APIKey.objects.active()
        .select_related("created_by")
        .filter(prefix=prefix)
        .order_by()
        .first()
    )
    if found is None or found.is_expired:
        return None
    if not crypto.key_verify(tenant_id=tenant_id, key=key, hashed_key=found.hashed_key):
        return None
    return found
