"""Tenant key space primitives on Redis: the GCRA rate limiter and the fenced lock.

A rate limit is one Lua script (EVALSHA), so a check and its update are one atomic step
however many processes share a bucket, and it reads Redis' own clock (``TIME``), so the
clocks of the web servers never matter. Each bucket is one key holding its "theoretical
arrival time" (GCRA), expiring when the bucket would be full again.

A lock (``tenant_lock``) is one key per name in the active scope's space, taken with
``SET NX PX`` and released only by its owner (compare-and-delete in Lua); every
acquisition also draws a fencing token from a per-lock counter, so a writer can refuse a
holder whose lock expired while it was paused.

A lease set (``lease_acquire``) counts holders of a limited resource, such as a user's open
sockets: one sorted set per resource, one member per holder scored by its lease's end.
Holders renew their leases; a holder that died stops renewing and its slot comes free
when its lease ends, so a crashed process never keeps slots for good.
"""

from __future__ import annotations

import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from django_redis import get_redis_connection
from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from atrium.errors import Conflict
from atrium.tenants.keyspace import scoped_key

logger = logging.getLogger(__name__)

RATELIMIT_PURPOSE = "ratelimit"

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*", re.IGNORECASE)  # fullmatch


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests per ``period`` seconds, of which all ``limit`` may come at once."""

    limit: int
    period: int

    @property
    def interval_us(self) -> int:
        """Microseconds between two requests at the sustained rate (rounded up, so a
        bucket never allows more than ``limit`` per ``period``)."""
        return -(-self.period * 1_000_000 // self.limit)

    @property
    def policy(self) -> str:
        """This rate as a ``RateLimit-Policy`` item: ``30;w=10``."""
        return f"{self.limit};w={self.period}"

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}s"


@dataclass(frozen=True, slots=True)
class RateDecision:
    """What a bucket said about one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until this request would be allowed; 0 when allowed


@lru_cache(maxsize=256)
def parse_rate(rate: str) -> Rate:
    """``"30/10s"``, ``"600/h"``, ``"5/min"``, ``"1000/d"`` → Rate (count / [n] unit)."""
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if match is None:
        raise ValueError(
            f"Invalid rate {rate!r}: write <count>/<period>, e.g. '30/10s', '600/h', '5/min'."
        )
    count, multiplier, unit = match.groups()
    seconds = _UNITS.get(unit.lower())
    if seconds is None:
        raise ValueError(
            f"Invalid rate {rate!r}: unknown unit {unit!r}; use s, m/min, h or d "
            f"(optionally with a multiplier: '10s', '15min')."
        )
    limit, period = int(count), int(multiplier or 1) * seconds
    if limit < 1 or period < 1:
        raise ValueError(f"Invalid rate {rate!r}: the count and the period must be positive.")
    return Rate(limit=limit, period=period)


# KEYS: one bucket per limit. ARGV: per key, its emission interval (µs), limit and cost.
# Either every bucket takes the request or none does, so a request refused by one limit
# never spends the budget of another. Times are integers in µs (exact in Lua's doubles up
# to 2^53 µs, i.e. the year 2255), written with %.0f so a bucket always holds a plain
# integer whatever number formatting the server applies.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats, intervals, limits, costs = {}, {}, {}, {}
local allowed = 1
for i = 1, n do
  local interval = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  if now - (tat + interval * cost - interval * limit) < 0 then allowed = 0 end
  tats[i], intervals[i], limits[i], costs[i] = tat, interval, limit, cost
end
local result = {allowed}
for i = 1, n do
  local tat, interval, limit, cost = tats[i], intervals[i], limits[i], costs[i]
  local tolerance = interval * limit
  local retry = tat + interval * cost - tolerance - now
  if allowed == 1 and cost > 0 then
    tat = tat + interval * cost
    redis.call('SET', KEYS[i], string.format('%.0f', tat),
               'PX', string.format('%.0f', math.ceil((tat - now) / 1000)))
  end
  local remaining = math.floor((now - tat + tolerance) / interval)
  if remaining < 0 then remaining = 0 end
  if retry < 0 then retry = 0 end
  table.insert(result, remaining)
  table.insert(result, tat - now)
  table.insert(result, retry)
end
return result
"""

_registered_scripts: dict[str, Script] = {}


def registered_script(source: str) -> tuple[Script, Redis]:
    """A Lua script registered once per process (run by EVALSHA) and the client to run it
    on (re-read each time: tests swap CACHES)."""
    client = get_redis_connection("default")
    if source not in _registered_scripts:
        _registered_scripts[source] = client.register_script(source)
    return _registered_scripts[source], client


def _check_key(key: str) -> None:
    """Buckets live in the active scope's rate-limit space, never in another tenant's."""
    if not key.startswith(scoped_key(RATELIMIT_PURPOSE) + ":"):
        raise ValueError(
            f"Rate-limit key {key!r} is not in the active scope's key space: build it with "
            f"scoped_key({RATELIMIT_PURPOSE!r}, ...) inside the tenant's scope."
        )


def rate_limit_many(
    limits: Sequence[tuple[str, Rate]],
    *,
    cost: int = 1,
    also: Callable[[Pipeline], object] | None = None,
) -> list[RateDecision]:
    """Charge ``cost`` to every ``(key, rate)`` bucket at once, or to none of them.

    One decision per bucket, in order. A decision's ``allowed`` says whether that bucket
    would take the request; the request went through (and every bucket was charged) only
    if all of them are. Raises ``redis.RedisError`` when Redis cannot answer: whether to
    fail open or closed is the caller's call. ``also`` queues more commands (metering's) on
    the same round trip; their replies and errors are not looked at.
    """
    if not limits:
        return []
    args: list[int] = []
    for key, rate in limits:
        _check_key(key)
        if not 0 <= cost <= rate.limit:
            raise ValueError(f"cost must be between 0 and the limit ({rate}), not {cost}.")
        args += [rate.interval_us, rate.limit, cost]
    script, client = registered_script(_GCRA_LUA)
    keys = [key for key, _ in limits]
    if also is None:
        raw = script(keys=keys, args=args, client=client)
    else:
        raw = _script_with(client, script, keys, args, also)
    allowed = bool(raw[0])
    decisions = []
    for index, (_, rate) in enumerate(limits):
        remaining, reset_us, retry_us = raw[1 + 3 * index : 4 + 3 * index]
        decisions.append(
            RateDecision(
                allowed=allowed or retry_us == 0,
                limit=rate.limit,
                remaining=int(remaining),
                reset_after=int(reset_us) / 1_000_000,
                retry_after=int(retry_us) / 1_000_000,
            )
        )
    return decisions


def _script_with(
    client: Redis, script: Script, keys: list[str], args: list[int], also: Callable
) -> object:
    """``script(keys, args)`` and the commands ``also`` queues, in one pipelined round trip.
    A server that does not know the script yet (restarted, flushed) runs it again alone,
    loaded first; the other commands ran once, with the first try."""
    pipe = client.pipeline(transaction=False)
    pipe.evalsha(script.sha, len(keys), *keys, *args)
    also(pipe)
    raw = pipe.execute(raise_on_error=False)[0]
    if isinstance(raw, NoScriptError):
        return script(keys=keys, args=args, client=client)
    if isinstance(raw, Exception):
        raise raw
    return raw


def rate_limit(key: str, rate: Rate, *, cost: int = 1) -> RateDecision:
    """Charge ``cost`` to the bucket ``key`` (from ``scoped_key("ratelimit", …)``).

    ``cost=0`` only reads the bucket. Raises ``redis.RedisError`` when Redis cannot answer.
    """
    return rate_limit_many([(key, rate)], cost=cost)[0]


# ----------------------------------------------------------------------------- locks

LOCK_PURPOSE = "lock"
# The fencing counter has a purpose of its own, so no lock name can reach into it; it never
# expires (a counter that restarted would hand out tokens a writer has already seen) and
# goes with the tenant's other keys when the tenant is purged.
LOCK_FENCE_PURPOSE = "lockfence"

# KEYS: the lock, its fencing counter. ARGV: owner id, expiry (ms).
# Taking the lock and drawing its token is one step: no holder is ever without a token,
# and tokens follow the order in which holders got the lock. A lock still held by the same
# owner id is taken over (see ``tenant_lock``'s ``owner``).
_ACQUIRE_LUA = """
local holder = redis.call('GET', KEYS[1])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return -redis.call('PTTL', KEYS[1]) - 1
"""
# KEYS: the lock. ARGV: owner id. Deletes the key only if it still holds this owner's id.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LockHeld(Conflict):
    """Another holder has the lock and did not release it within ``blocking_timeout``."""

    code = "lock_held"

    def __init__(self, name: str, retry_after: float | None = None) -> None:
        hint = f" (it expires in {retry_after:.1f}s at the latest)" if retry_after else ""
        super().__init__(
            f"The lock {name!r} is held by another operation{hint}; try again when it is done."
        )
        self.name = name
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Lock:
    """A held lock. ``token`` grows with every acquisition of the same name in a tenant:
    give it to the writer you call, which refuses a token lower than one it has seen."""

    name: str
    key: str
    owner: str
    token: int

    def held(self) -> bool:
        """Whether this holder still owns the lock (False once it expired or was taken)."""
        value = get_redis_connection("default").get(self.key)
        return value is not None and value.decode() == self.owner


@contextmanager
def tenant_lock(
    name: str, *, timeout: float, blocking_timeout: float = 0, owner: str | None = None
) -> Iterator[Lock]:
    """Hold the lock ``name`` of the active tenant for at most ``timeout`` seconds.

    Waits up to ``blocking_timeout`` seconds for a current holder (0: one attempt), then
    raises ``LockHeld`` (409, ``lock_held``). Locks of different tenants are independent:
    the key is ``t:<schema>:lock:<name>``. The lock expires after ``timeout`` even if the
    holder never comes back, so pick a timeout longer than the work; a holder that may
    outlive it should pass ``lock.token`` to the writer it calls (fencing).

    ``owner`` names the work that holds the lock (e.g. ``job:<id>``; default: this call
    alone). A lock still held by the same owner is taken over: the redelivery of a task
    whose worker died mid-run must not wait for the dead run's lock to expire, and Celery
    redelivers a message only once its previous run is gone (the visibility timeout exceeds
    the longest run). The takeover draws a new token, so the dead run is fenced off.
    """
    if timeout <= 0:
        raise ValueError(f"A lock needs a positive timeout (seconds), not {timeout!r}.")
    if blocking_timeout < 0:
        raise ValueError(f"blocking_timeout must be 0 or more seconds, not {blocking_timeout!r}.")
    key = scoped_key(LOCK_PURPOSE, name)
    fence = scoped_key(LOCK_FENCE_PURPOSE, name)
    owner = owner or uuid.uuid4().hex
    acquire, client = registered_script(_ACQUIRE_LUA)
    release, _ = registered_script(_RELEASE_LUA)
    deadline = time.monotonic() + blocking_timeout
    pause = 0.005
    while True:
        answer = int(
            acquire(keys=[key, fence], args=[owner, max(1, int(timeout * 1000))], client=client)
        )
        if answer > 0:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # answer is -(PTTL + 1): the current holder's time left, when Redis knows it.
            expires_in = (-answer - 1) / 1000 if answer < -1 else None
            raise LockHeld(name, retry_after=expires_in)
        # Jittered, growing pauses: waiters do not hammer Redis in step with each other.
        time.sleep(min(remaining, pause * (0.5 + random.random())))
        pause = min(pause * 2, 0.1)
    lock = Lock(name=name, key=key, owner=owner, token=answer)
    try:
        yield lock
    finally:
        if not release(keys=[key], args=[owner], client=client):
            logger.warning(
                "lock %s expired before its holder released it (token %d); another holder "
                "may have run concurrently",
                key,
                lock.token,
            )


# ------------------------------------------------------------------------ lease sets

# KEYS: the lease set. ARGV: member, limit (0: none), lease (ms).
# Ended leases are dropped first; a member already holding a lease renews it whatever the
# count. Returns 1 if the member holds a lease now, 0 if the set is full.
_LEASE_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
"""


def lease_acquire(key: str, member: str, *, limit: int, lease: float) -> bool:
    """Give ``member`` a lease of ``lease`` seconds in the set ``key`` (from ``scoped_key``)
    unless ``limit`` other members hold one (0: no limit); renews a lease it holds.

    One atomic script on Redis' clock. Raises ``redis.RedisError`` when Redis cannot answer:
    whether to fail open or closed is the caller's call.
    """
    if limit < 0 or lease <= 0:
        raise ValueError(f"A lease needs limit >= 0 and a positive lease, not {limit}, {lease}.")
    script, client = registered_script(_LEASE_ACQUIRE_LUA)
    return bool(script(keys=[key], args=[member, limit, max(1, int(lease * 1000))], client=client))


def lease_renew(key: str, member: str, *, lease: float) -> None:
    """Extend ``member``'s lease by ``lease`` seconds from now (taken again if it ended)."""
    lease_acquire(key, member, limit=0, lease=lease)


def lease_release(key: str, member: str) -> None:
    """End ``member``'s lease at once (nothing happens if it holds none)."""
    get_redis_connection("default").zrem(key, member)


def lease_count(key: str) -> int:
    """How many leases of ``key`` have not ended."""
    return int(get_redis_connection("default").zcount(key, f"({_redis_now_ms()}", "+inf"))


def _redis_now_ms() -> int:
    seconds, micros = get_redis_connection("default").time()
    return int(seconds) * 1000 + int(micros) // 1000
