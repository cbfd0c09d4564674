"""What API keys hold about a person: the keys they created (never a secret or a hash);
erasure revokes them all."""

from __future__ import annotations

from .models import APIKey
from .services import api_keys_revoke_for_user


def collect_api_keys(user) -> list[dict]:
    return [
        {
            "id": str(key.pk),
            "name": key.name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "created_at": key.created.isoformat(),
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
            "expires_at": key.expiry_date.isoformat() if key.expiry_date else None,
            "revoked": key.revoked,
        }
        for key in APIKey.objects.filter(created_by=user).order_by("created")
    ]


def erase_api_keys(user) -> dict[str, int]:
    return {"revoked": api_keys_revoke_for_user(user=user)}
