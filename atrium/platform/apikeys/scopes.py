"""The scopes an API key may hold, and the role a key acts with (never above its creator's).

* ``read``: safe methods (GET, HEAD, OPTIONS);
* ``write``: every other method (POST, PATCH, PUT, DELETE);
* ``admin``: the key acts with its creator's role, at most ``admin`` (user management and
  the other admin-only routes); without it a key acts as a ``member``.

``read`` and ``write`` decide the methods, ``admin`` the role: a key that may create users
needs ``write`` and ``admin``. A key never acts as an owner.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS

from atrium.platform.accounts.models import Role

READ = "read"
WRITE = "write"
ADMIN = "admin"
SCOPES: dict[str, str] = {
    READ: "Safe methods: GET, HEAD, OPTIONS.",
    WRITE: "Every other method: POST, PATCH, PUT, DELETE.",
    ADMIN: "Act with the creator's role, at most admin (without it: as a member).",
}

_RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


def scope_for_method(method: str) -> str:
    return READ if method.upper() in SAFE_METHODS else WRITE


def key_role(*, creator_role: str, scopes: list[str]) -> str:
    """The role a key acts with: the lower of its creator's role (now, not at creation) and
    the highest role its scopes allow (admin with ``admin``, else member)."""
    ceiling = Role.ADMIN if ADMIN in scopes else Role.MEMBER
    return min((creator_role, ceiling), key=lambda role: _RANK.get(role, 0))
