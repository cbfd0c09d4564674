"""Account events, declared here (imported by AccountsConfig.ready()) and published by the
account services after commit: ``user_event(name, user)`` builds the payload once."""

from __future__ import annotations

from typing import Any

from atrium.platform.events import declare, publish

from .models import Role, User

_ROLE = {"type": "string", "enum": list(Role.values)}
_USER_PROPERTIES: dict[str, Any] = {
    "email": {"type": "string"},
    "name": {"type": "string"},
    "role": _ROLE,
    "is_active": {"type": "boolean"},
}


def _user_schema(**extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**_USER_PROPERTIES, **extra},
        "required": [*_USER_PROPERTIES, *extra],
        "additionalProperties": False,
    }


declare(
    "user.created",
    schema=_user_schema(),
    description="A user was added to the tenant (by an admin, an invitation or sign-up).",
)
declare(
    "user.deactivated",
    schema=_user_schema(),
    description="A user was deactivated: their tokens are revoked and sockets closed.",
)
declare(
    "user.role_changed",
    schema=_user_schema(previous_role=_ROLE),
    description="A user's role changed (`previous_role` to `role`).",
)


def user_event(name: str, user: User, **extra: Any) -> None:
    """Publish the user event ``name`` about ``user`` once the transaction commits."""
    data = {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        **extra,
    }
    publish(name, id=str(user.pk), data=data)
