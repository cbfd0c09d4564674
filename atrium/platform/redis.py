"""Tenant key space primitives on Redis: the GCRA rate limiter.

A rate limit is one Lua script (EVALSHA), so a check and its update are one atomic step
however many processes share a bucket, and it reads Redis' own clock (``TIME``), so the
clocks of the web servers never matter. Each bucket is one key holding its "theoretical
arrival time" (GCRA), expiring when the bucket would be full again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django_redis import get_redis_connection
from redis import Redis
from redis.commands.core import Script

from atrium.tenants.keyspace import scoped_key

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
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$", re.IGNORECASE)


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
    match = _RATE.match(rate) if isinstance(rate, str) else None
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

_script: Script | None = None


def _gcra() -> tuple[Script, Redis]:
    """The registered script and the client to run it on (re-read: tests swap CACHES)."""
    global _script
    client = get_redis_connection("default")
    if _script is None:
        _script = client.register_script(_GCRA_LUA)
    return _script, client


def _check_key(key: str) -> None:
    """Buckets live in the active scope's rate-limit space, never in another tenant's."""
    if not key.startswith(scoped_key(RATELIMIT_PURPOSE) + ":"):
        raise ValueError(
            f"Rate-limit key {key!r} is not in the active scope's key space: build it with "
            f"scoped_key({RATELIMIT_PURPOSE!r}, ...) inside the tenant's scope."
        )


def rate_limit_many(limits: Sequence[tuple[str, Rate]], *, cost: int = 1) -> list[RateDecision]:
    """Charge ``cost`` to every ``(key, rate)`` bucket at once, or to none of them.

    One decision per bucket, in order. A decision's ``allowed`` says whether that bucket
    would take the request; the request went through (and every bucket was charged) only
    if all of them are. Raises ``redis.RedisError`` when Redis cannot answer: whether to
    fail open or closed is the caller's call.
    """
    if not limits:
        return []
    args: list[int] = []
    for key, rate in limits:
        _check_key(key)
        if not 0 <= cost <= rate.limit:
            raise ValueError(f"cost must be between 0 and the limit ({rate}), not {cost}.")
        args += [rate.interval_us, rate.limit, cost]
    script, client = _gcra()
    raw = script(keys=[key for key, _ in limits], args=args, client=client)
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


def rate_limit(key: str, rate: Rate, *, cost: int = 1) -> RateDecision:
    """Charge ``cost`` to the bucket ``key`` (from ``scoped_key("ratelimit", …)``).

    ``cost=0`` only reads the bucket. Raises ``redis.RedisError`` when Redis cannot answer.
    """
    return rate_limit_many([(key, rate)], cost=cost)[0]
