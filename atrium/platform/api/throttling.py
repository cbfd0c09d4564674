"""Throttles: per-tenant burst and sustained limits on Redis (GCRA), and their headers.

DRF's own throttles read a list from the cache, decide, then write it back, so parallel
requests all see the same old list and all get in. These ask Redis once per request, in one
atomic script that also checks every Atrium throttle of the view together: a request
refused by one limit does not spend the budget of the others.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from atrium.conf import atrium_settings
from atrium.platform.redis import (
    RATELIMIT_PURPOSE,
    Rate,
    RateDecision,
    parse_rate,
    rate_limit_many,
)
from atrium.tenants.keyspace import scoped_key

from .metering import metered_with

if TYPE_CHECKING:  # rest_framework.views imports this module for its default throttles
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

REQUEST_ATTRIBUTE = "atrium_ratelimit"  # where the decisions are kept on the HttpRequest


class OncePerInterval:
    """Logs a warning at most once per interval per process: an outage hits every request,
    and a log line per request would bury everything else."""

    def __init__(self, interval: float = 60.0, log: logging.Logger = logger) -> None:
        self.interval = interval
        self.log = log
        self._lock = threading.Lock()
        self._last = -math.inf
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._last, self._suppressed = self._suppressed, now, 0
        self.log.warning(message + " (%d similar warnings suppressed)", *args, suppressed)

    def reset(self) -> None:
        with self._lock:
            self._last, self._suppressed = -math.inf, 0


throttle_warning = OncePerInterval()


@dataclass(frozen=True, slots=True)
class RateLimitRecord:
    """The limits a request was checked against, for the ``RateLimit-*`` headers."""

    rates: tuple[Rate, ...]
    decisions: tuple[RateDecision, ...]

    @property
    def binding(self) -> RateDecision:
        """The decision a client must respect: the longest refusal, else the fewest left."""
        refused = [d for d in self.decisions if not d.allowed]
        if refused:
            return max(refused, key=lambda d: d.retry_after)
        return min(self.decisions, key=lambda d: (d.remaining, -d.reset_after))

    @property
    def policy(self) -> str:
        return ", ".join(rate.policy for rate in self.rates)


def client_ip(request: HttpRequest | Request) -> str:
    """The client's address: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry added by the
    outermost of ``ATRIUM_TRUSTED_PROXY_COUNT`` proxies (0: the header is not trusted, as
    anyone can send it)."""
    remote_addr = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = atrium_settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    hops = [hop.strip() for hop in forwarded.split(",")]
    candidate = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote_addr


class TenantRateThrottle(BaseThrottle):
    """A limit of the tenant's plan (``ATRIUM_RATE_LIMITS[plan][scope]``), per user or IP.

    Every TenantRateThrottle of a view is decided by the first one DRF asks, in one Redis
    call; the others read their decision from the request. Redis down: the request is let
    through (an outage of the limiter must not become an outage of the API).
    """

    scope: str = ""

    def __init__(self) -> None:
        self.decision: RateDecision | None = None

    def get_rate(self, request: Request) -> Rate | None:
        """This scope's rate for the request's tenant; ``None`` (in settings) means no limit."""
        limits = atrium_settings.RATE_LIMITS
        default = limits[atrium_settings.DEFAULT_PLAN]
        plan = getattr(getattr(request, "tenant", None), "plan", None)
        rates = limits.get(plan, default)  # an unknown plan gets the default plan's limits
        rate = rates[self.scope] if self.scope in rates else default[self.scope]
        return parse_rate(rate) if rate else None

    def get_ident(self, request: Request) -> str:
        user = getattr(request, "user", None)  # authenticates, which sets api_key_id
        api_key_id = getattr(request, "api_key_id", None)
        if api_key_id is not None:  # a key has its own budget, apart from its creator's
            return f"api_key:{api_key_id}"
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{client_ip(request)}"

    def get_key(self, request: Request) -> str:
        return scoped_key(RATELIMIT_PURPOSE, self.scope, self.get_ident(request))

    def allow_request(self, request: Request, view: APIView) -> bool:
        decisions = _decide(request, view, self)
        self.decision = decisions.get(self.scope)
        return self.decision is None or self.decision.allowed

    def wait(self) -> float | None:
        if self.decision is None or self.decision.allowed:
            return None
        return self.decision.retry_after


class BurstRateThrottle(TenantRateThrottle):
    """Short window: absorbs a page load's burst of calls, stops a runaway loop."""

    scope = "burst"


class SustainedRateThrottle(TenantRateThrottle):
    """Long window: caps what one user or address may take from the tenant per hour."""

    scope = "sustained"


_DECISIONS = "_atrium_throttle_decisions"


def _decide(
    request: Request, view: APIView, asking: TenantRateThrottle
) -> dict[str, RateDecision | None]:
    """Decide every TenantRateThrottle of the view at once, memoised on the request."""
    decided: dict[str, RateDecision | None] | None = getattr(request, _DECISIONS, None)
    if decided is not None and asking.scope in decided:
        return decided
    throttles = [t for t in view.get_throttles() if isinstance(t, TenantRateThrottle)]
    if not any(t.scope == asking.scope for t in throttles):
        throttles.append(asking)
    limited: dict[str, tuple[str, Rate]] = {}
    for throttle in throttles:
        rate = throttle.get_rate(request)
        if rate is not None and throttle.scope not in limited:
            limited[throttle.scope] = (throttle.get_key(request), rate)
    decided = dict.fromkeys((t.scope for t in throttles), None)
    try:
        # Metering's commands ride on this round trip (atrium.platform.api.metering).
        decisions = rate_limit_many(list(limited.values()), also=metered_with(request))
    except redis.RedisError as exc:
        throttle_warning.warning("throttling: Redis unavailable, requests are not limited: %s", exc)
        decisions = []
    decided.update(zip(limited, decisions, strict=False))
    setattr(request, _DECISIONS, decided)
    if decisions:
        setattr(
            request._request,
            REQUEST_ATTRIBUTE,
            RateLimitRecord(
                rates=tuple(rate for _, rate in limited.values()), decisions=tuple(decisions)
            ),
        )
    return decided


class RateLimitHeadersMiddleware:
    """Adds ``RateLimit-Limit/Remaining/Reset/Policy`` (IETF draft) to throttled views'
    responses, and ``Retry-After`` to any 429 that lacks it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        record: RateLimitRecord | None = getattr(request, REQUEST_ATTRIBUTE, None)
        if record is None:
            return response
        binding = record.binding
        response["RateLimit-Limit"] = str(binding.limit)
        response["RateLimit-Remaining"] = str(binding.remaining)
        response["RateLimit-Reset"] = str(math.ceil(binding.reset_after))
        response["RateLimit-Policy"] = record.policy
        if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and not response.has_header(
            "Retry-After"
        ):
            response["Retry-After"] = str(max(1, math.ceil(binding.retry_after)))
        return response
