"""API key services: create (the key is returned once), revoke, touch, and revoke all of
a person's keys (erasure).

Only owners and admins, signed in as themselves, manage keys: a key cannot mint or revoke
keys (``PersonRequired``), so a leaked key cannot outlive its own revocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from atrium.errors import InvalidInput, PermissionDenied
from atrium.platform.accounts.models import User
from atrium.platform.accounts.permissions import refuse_api_keys
from atrium.platform.audit.services import audit_record
from atrium.tenants.context import current_tenant

from . import crypto
from .events import api_key_event
from .models import APIKey
from .scopes import SCOPES

# last_used_at is written at most once per interval per key, not on every request.
LAST_USED_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    api_key: APIKey
    key: str  # the full key, shown once


def _check_may_manage(actor: User) -> None:
    refuse_api_keys(actor)  # a leaked key must not mint keys that outlive it
    if not actor.is_tenant_admin:
        raise PermissionDenied("Only the tenant's owners and admins manage API keys.")


def _clean_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(
            f"Give scopes as a non-empty list of {', '.join(SCOPES)}"
            + (f" (unknown: {', '.join(unknown)})." if unknown else "."),
            code="invalid_scopes",
            field="scopes",
        )
    return [scope for scope in SCOPES if scope in scopes]  # deduplicated, in a fixed order


def api_key_create(
    *, actor: User, name: str, scopes: list[str], expires_at: datetime | None = None
) -> CreatedKey:
    _check_may_manage(actor)
    scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(
            "expires_at is in the past: give a future time, or none for a key that does not "
            "expire.",
            code="expiry_in_past",
            field="expires_at",
        )
    new = crypto.key_generate(tenant_id=current_tenant().id)
    with transaction.atomic():
        api_key = APIKey(
            name=name,
            prefix=new.prefix,
            hashed_key=new.hashed_key,
            scopes=scopes,
            expiry_date=expires_at,
            created_by=actor,
        )
        api_key.full_clean()
        api_key.save()
        audit_record(
            "api_key.created",
            target=api_key,
            actor=actor,
            metadata={"prefix": api_key.prefix, "scopes": scopes, "expires_at": expires_at},
        )
        api_key_event("api_key.created", api_key)
    return CreatedKey(api_key=api_key, key=new.key)


def api_key_revoke(*, actor: User, api_key: APIKey) -> APIKey:
    """Revoke ``api_key``: the next request with it is refused (every request reads it)."""
    _check_may_manage(actor)
    with transaction.atomic():
        api_key = APIKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.revoked:
            return api_key
        api_key.revoked = True
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked", "revoked_at"])
        audit_record(
            "api_key.revoked", target=api_key, actor=actor, metadata={"prefix": api_key.prefix}
        )
        api_key_event("api_key.revoked", api_key)
    return api_key


def api_keys_revoke_for_user(*, user: User) -> int:
    """Revoke every key ``user`` created (their erasure), each audited and published as
    ``api_key.revoked``; returns how many."""
    with transaction.atomic():
        keys = list(APIKey.objects.active().select_for_update().filter(created_by=user))
        now = timezone.now()
        for api_key in keys:
            api_key.revoked, api_key.revoked_at = True, now
            api_key.save(update_fields=["revoked", "revoked_at"])
            audit_record(
                "api_key.revoked",
                target=api_key,
                metadata={"prefix": api_key.prefix, "reason": "creator_erased"},
            )
            api_key_event("api_key.revoked", api_key)
    return len(keys)


def api_key_touch(*, api_key: APIKey) -> None:
    """Record that ``api_key`` was used now, at most once per ``LAST_USED_INTERVAL``: one
    conditional UPDATE a minute per key, not a write per request."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_INTERVAL:
        return
    APIKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL)
    ).update(last_used_at=now)
