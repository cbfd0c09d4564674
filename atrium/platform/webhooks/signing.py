"""Standard Webhooks signatures: ``whsec_`` secrets, and the ``webhook-signature`` value
``v1,<base64 HMAC-SHA256>`` of ``{webhook-id}.{webhook-timestamp}.{body}``, keyed with the
base64-decoded part of the secret after ``whsec_``. Several signatures (a rotated-out
secret next to the new one) are separated by spaces; a receiver accepts any that matches."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id() -> str:
    """A ``webhook-id``: unique per event, the same on every attempt."""
    return f"msg_{uuid.uuid4().hex}"


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def signature_header(secrets_: list[str], *, msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_)
