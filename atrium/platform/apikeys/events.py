"""API key events (imported by ApiKeysConfig.ready()), published by the services after
commit. Never the key or its hash. On the WebSocket only for the key's creator."""

from __future__ import annotations

from typing import Any

from atrium.platform.events import declare, publish

from .models import APIKey
from .scopes import SCOPES

_KEY_PROPERTIES: dict[str, Any] = {
    "name": {"type": "string"},
    "prefix": {"type": "string", "description": "The key's public part: `atr_<prefix>_…`."},
    "scopes": {"type": "array", "items": {"enum": list(SCOPES)}, "minItems": 1},
    "created_by": {"type": "string", "format": "uuid"},
    "expires_at": {"type": ["string", "null"], "format": "date-time"},
}


def _schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": _KEY_PROPERTIES,
        "required": list(_KEY_PROPERTIES),
        "additionalProperties": False,
    }


declare(
    "api_key.created",
    schema=_schema(),
    description="An owner or admin created an API key (its secret is never in an event).",
    audience="user",
)
declare(
    "api_key.revoked",
    schema=_schema(),
    description="An API key was revoked: requests made with it are refused from now on.",
    audience="user",
)


def api_key_event(name: str, api_key: APIKey) -> None:
    publish(
        name,
        id=str(api_key.pk),
        data={
            "name": api_key.name,
            "prefix": api_key.prefix,
            "scopes": list(api_key.scopes),
            "created_by": str(api_key.created_by_id),
            "expires_at": api_key.expiry_date,
        },
        user_id=str(api_key.created_by_id),
    )
