"""Key material: ``atr_<prefix>_<secret>``, hashed with the library's SHA-512 hasher over
the tenant's id and the key (one fast hash per request, never a password hash: the secret
has 190 random bits, which no dictionary attack can reach)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework_api_key.crypto import KeyGenerator

KEY_PREFIX = "atr"
PREFIX_LENGTH = 8
SECRET_LENGTH = 32

_generator = KeyGenerator(prefix_length=PREFIX_LENGTH, secret_key_length=SECRET_LENGTH)


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str  # shown once
    prefix: str
    hashed_key: str


def _material(tenant_id: object, key: str) -> str:
    return f"{tenant_id}:{key}"


def key_generate(*, tenant_id: object) -> NewKey:
    prefix, secret = _generator.get_prefix(), _generator.get_secret_key()
    key = f"{KEY_PREFIX}_{prefix}_{secret}"
    return NewKey(key=key, prefix=prefix, hashed_key=_generator.hash(_material(tenant_id, key)))


def key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, else None (nothing to look up)."""
    parts = key.split("_")
    if (
        len(parts) != 3
        or parts[0] != KEY_PREFIX
        or len(parts[1]) != PREFIX_LENGTH
        or len(parts[2]) != SECRET_LENGTH
        or not (parts[1] + parts[2]).isalnum()
        or not (parts[1] + parts[2]).isascii()
    ):
        return None
    return parts[1]


def key_verify(*, tenant_id: object, key: str, hashed_key: str) -> bool:
    """Constant-time, and only with the fast hasher (the library would fall back to
    ``check_password`` for other encodings; we never store those)."""
    if not _generator.using_preferred_hasher(hashed_key):
        return False
    return _generator.preferred_hasher.verify(_material(tenant_id, key), hashed_key)
