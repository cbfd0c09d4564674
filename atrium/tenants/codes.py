"""The registry of error codes: every ``code`` an HTTP error answer can carry, by status.

One place per code: the module that raises it declares it once, with ``error_code()``,
and the OpenAPI schema lists exactly what is registered (one enum per status), so a
client generated from the schema knows every code the server sends. It lives in the
lowest layer so that every layer can declare its own codes:

* a ``DomainError`` subclass (``atrium/platform/errors.py``) or an ``APIError``
  (``atrium/platform/api/errors.py``) is registered by being defined;
* any other code (a ``code=`` given where an error is raised, an answer built by hand)
  is declared with ``error_code(status, code, description)`` in the ``errors`` module of
  its app (``atrium/<layer>/<app>/errors.py``), which the schema imports for every
  installed app.

400 answers are open: a field's validation codes (``required``, ``max_length``, …) come
from DRF and the serializers, so the schema documents ``code`` there as a string and
registered 400 codes only in its description. Every other status is a closed enum; in
the test settings (``ATRIUM_ERROR_CODES_STRICT``) an API answer with an unregistered code
fails loudly instead of crashing a generated client later.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    status: int
    code: str
    description: str


_lock = threading.Lock()
_registry: dict[int, dict[str, ErrorCode]] = {}


def error_code(status: int, code: str, description: str = "") -> str:
    """Declare that answers with ``status`` may carry ``code``; returns ``code``.

    Declaring a code twice for one status is fine (the first description given is kept)."""
    if not code or not code.replace("_", "").isalnum() or code != code.lower():
        raise ValueError(f"error codes are lower_snake_case words, not {code!r}")
    with _lock:
        known = _registry.setdefault(status, {})
        if code not in known or (description and not known[code].description):
            known[code] = ErrorCode(status, code, description)
    return code


def codes(status: int) -> list[str]:
    """The codes registered for ``status``, sorted."""
    with _lock:
        return sorted(_registry.get(status, {}))


def described(status: int) -> list[ErrorCode]:
    with _lock:
        return sorted(_registry.get(status, {}).values(), key=lambda entry: entry.code)


def statuses() -> list[int]:
    with _lock:
        return sorted(_registry)


def is_registered(status: int, code: str) -> bool:
    with _lock:
        return code in _registry.get(status, {})
