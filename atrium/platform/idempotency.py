"""Idempotency keys of tasks: one effect per message, however often the broker delivers it.

The key is ``scoped_key("idem", <task name>, <key>)`` where ``<key>`` is the
``idempotency_key=`` given at send time, as a keyword of the task or as an option of
``apply_async`` / ``send_task`` / a signature (moved to a message header, so the task
function never sees it; two different keys for one message are refused) or, without one,
the task id — which a retry and a redelivery (``acks_late``) keep, so a message the broker
delivers twice has one effect, while two separate sends only share an effect when they
share an explicit key. A run claims the key (``SET NX``, a lease of ``idempotency_lease``
seconds holding the task id), marks it ``done`` for ``idempotency_ttl`` seconds after
success and frees it after a failure (so a retry, or a later send, can run). A message
whose key is ``done``, or held by a different task id that is running now, is skipped
(outcome ``duplicate``); a message with the task id that holds the lease is that task's own
redelivery after a crash and takes over. The broker's visibility timeout must exceed the
longest run, as Celery requires for ``acks_late`` anyway. The guard that uses them is
``atrium.platform.tasks.AtriumTask``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django_redis import get_redis_connection

from atrium.platform.redis import registered_script
from atrium.tenants.keyspace import scoped_key

IDEMPOTENCY_HEADER = "atrium_idempotency_key"
IDEMPOTENCY_KWARG = "idempotency_key"
IDEMPOTENCY_PURPOSE = "idem"


def move_idempotency_key(kwargs: Mapping[str, Any] | None, options: dict[str, Any]) -> Any:
    """Move ``idempotency_key=`` into a header, so the task function never sees it, whether
    it was given as a keyword of the task (``delay(..., idempotency_key=k)``) or as an option
    of the send (``apply_async(..., idempotency_key=k)``, ``sig.set(idempotency_key=k)``),
    which Celery would otherwise pass to the broker as a message property and forget.
    Two different keys for one message are refused. Returns the task's kwargs."""
    given: list[Any] = [options.pop(IDEMPOTENCY_KWARG, None)]
    if kwargs and IDEMPOTENCY_KWARG in kwargs:
        kwargs = dict(kwargs)
        given.append(kwargs.pop(IDEMPOTENCY_KWARG))
    keys = {str(key) for key in given if key is not None}
    if not keys:
        return kwargs
    headers = dict(options.get("headers") or {})
    if IDEMPOTENCY_HEADER in headers:
        keys.add(str(headers[IDEMPOTENCY_HEADER]))
    if len(keys) > 1:
        raise ValueError(
            f"Two different idempotency keys for one message ({', '.join(sorted(keys))}): "
            "give idempotency_key= once."
        )
    headers[IDEMPOTENCY_HEADER] = keys.pop()
    options["headers"] = headers
    return kwargs


_CLAIM_LUA = """
local value = redis.call('GET', KEYS[1])
if not value or value == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_FREE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_DONE = "done"


@dataclass(slots=True)
class Claim:
    key: str
    owner: str

    def done(self, ttl: int) -> None:
        get_redis_connection("default").set(self.key, _DONE, ex=ttl)

    def free(self) -> None:
        script, client = registered_script(_FREE_LUA)
        script(keys=[self.key], args=[self.owner], client=client)


def claim(task_name: str, key: str, owner: str, lease: int) -> Claim | None:
    """Claim ``key`` for ``owner`` (a task id); None when it is done or held by another."""
    full_key = scoped_key(IDEMPOTENCY_PURPOSE, task_name, key)
    script, client = registered_script(_CLAIM_LUA)
    if script(keys=[full_key], args=[owner, lease * 1000], client=client):
        return Claim(full_key, owner)
    return None


__all__ = [
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENCY_KWARG",
    "IDEMPOTENCY_PURPOSE",
    "Claim",
    "claim",
    "move_idempotency_key",
]
