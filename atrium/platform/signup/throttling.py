"""Sign-up limits: per client address and per (canonical) e-mail, on Redis (GCRA), fail
closed: when Redis cannot answer, nobody signs up (each sign-up mails a stranger)."""

from __future__ import annotations

import logging

import redis
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

from atrium.conf import atrium_settings
from atrium.platform.accounts.throttling import email_digest
from atrium.platform.api.throttling import OncePerInterval, client_ip
from atrium.platform.redis import RATELIMIT_PURPOSE, parse_rate, rate_limit_many
from atrium.tenants.keyspace import public_key

from .errors import SignupUnavailable

signup_warning = OncePerInterval(log=logging.getLogger(__name__))


def enforce_signup_rate(request: Request, email: str) -> None:
    """Count one sign-up for this client address and this e-mail; 429 over either limit
    (neither is charged then), 503 ``signup_unavailable`` without Redis."""
    rates = atrium_settings.SIGNUP_RATE_LIMITS
    limits = [
        (
            public_key(RATELIMIT_PURPOSE, "signup-ip", client_ip(request)),
            parse_rate(rates["per_ip"]),
        ),
        (
            public_key(RATELIMIT_PURPOSE, "signup-email", email_digest(email)),
            parse_rate(rates["per_email"]),
        ),
    ]
    try:
        decisions = rate_limit_many(limits)
    except redis.RedisError as exc:
        signup_warning.warning("sign-up throttling: Redis unavailable, sign-up refused: %s", exc)
        raise SignupUnavailable() from exc
    refused = [decision.retry_after for decision in decisions if not decision.allowed]
    if refused:
        raise Throttled(wait=max(refused))
