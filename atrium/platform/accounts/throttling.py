"""Login throttling: per e-mail and per client address, fail-closed (no Redis, no sign-in).

Used by the API's token views and the admin sites' login (``limit_admin_login``) alike, so
one budget covers every sign-in. The key's e-mail part is its canonical form, as the login
lookup compares it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from collections.abc import Sequence

import redis
from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

from atrium.conf import atrium_settings
from atrium.errors import ServiceUnavailable
from atrium.platform.api.throttling import OncePerInterval, client_ip
from atrium.platform.audit.models import ActorType
from atrium.platform.audit.services import Actor, audit_log_active, audit_record
from atrium.platform.redis import RATELIMIT_PURPOSE, Rate, parse_rate, rate_limit_many
from atrium.tenants.keyspace import scoped_key

from .emails import canonical_email

# How long to tell clients to wait when login cannot be rate-limited (Redis away).
LOGIN_UNAVAILABLE_RETRY_AFTER = 5

login_warning = OncePerInterval(log=logging.getLogger(__name__))


class LoginUnavailable(ServiceUnavailable):
    """Sign-in cannot be rate-limited right now; retry shortly.

    It is refused: an attacker must not get unlimited password guesses because Redis is
    down."""

    code = "login_unavailable"
    message_template = "Sign-in is temporarily unavailable. Please try again in a few seconds."
    retry_after = LOGIN_UNAVAILABLE_RETRY_AFTER


def email_digest(email: str) -> str:
    """The key part for an e-mail: a hash of its canonical form (the form the login lookup
    compares), so every spelling of an address shares one bucket and no address appears
    in Redis."""
    return hashlib.sha256(canonical_email(email).encode()).hexdigest()[:32]


def login_limits(request: HttpRequest | Request, email: str) -> Sequence[tuple[str, Rate]]:
    rates = atrium_settings.LOGIN_RATE_LIMITS
    return [
        (
            scoped_key(RATELIMIT_PURPOSE, "login-email", email_digest(email)),
            parse_rate(rates["per_email"]),
        ),
        (
            scoped_key(RATELIMIT_PURPOSE, "login-ip", client_ip(request)),
            parse_rate(rates["per_ip"]),
        ),
    ]


def token_limits(request: HttpRequest | Request, token: str) -> Sequence[tuple[str, Rate]]:
    """Login's limits for a mailed token (reset, e-mail change): per token, as per e-mail,
    and in login's own per-IP bucket, so guessing tokens spends the sign-in budget."""
    rates = atrium_settings.LOGIN_RATE_LIMITS
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return [
        (
            scoped_key(RATELIMIT_PURPOSE, "login-token", digest),
            parse_rate(rates["per_email"]),
        ),
        (
            scoped_key(RATELIMIT_PURPOSE, "login-ip", client_ip(request)),
            parse_rate(rates["per_ip"]),
        ),
    ]


def enforce_token_rate(request: HttpRequest | Request, token: str) -> None:
    """``enforce_login_rate`` for an attempt with a mailed token."""
    _enforce(token_limits(request, token or ""))


def enforce_login_rate(request: HttpRequest | Request, email: str) -> None:
    """Count a sign-in attempt for this tenant + e-mail and for this client IP; call it before
    the password is checked. Raises ``Throttled`` (429) over either limit and
    ``LoginUnavailable`` (503) when Redis cannot answer (fail closed)."""
    try:
        _enforce(login_limits(request, email or ""))
    except Throttled as exc:
        lockout_record(request, email, wait=exc.wait or 1)
        raise


def _enforce(limits: Sequence[tuple[str, Rate]]) -> None:
    try:
        decisions = rate_limit_many(limits)
    except redis.RedisError as exc:
        login_warning.warning("login throttling: Redis unavailable, sign-in refused: %s", exc)
        raise LoginUnavailable() from exc
    refused = [decision.retry_after for decision in decisions if not decision.allowed]
    if refused:
        raise Throttled(wait=max(refused))


def lockout_record(request: HttpRequest | Request, email: str, *, wait: float) -> None:
    """``auth.lockout``, once per lockout (a Redis marker lives as long as the refusal), so
    that a flood of refused attempts costs the audit log one entry."""
    if not audit_log_active():
        return
    marker = scoped_key(RATELIMIT_PURPOSE, "login-lockout", email_digest(email or ""))
    client = get_redis_connection("default")
    if not client.set(marker, 1, nx=True, px=max(1, math.ceil(wait * 1000))):
        return
    email = canonical_email(email or "")
    audit_record(
        "auth.lockout",
        target_type="accounts.user",
        target_label=email,
        actor=Actor(ActorType.USER, "", email or "anonymous"),
        metadata={"retry_after": math.ceil(wait)},
    )


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, counted in the API's login buckets (per tenant + canonical
    e-mail and per client address) before the password is checked, so failures in the
    admin and on ``/api/v1/auth/token/`` spend one budget."""

    # The answer the login view gives instead of 200 when the form was refused here.
    refused_status: int | None = None
    retry_after: int = 0

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and self.cleaned_data.get("password"):
            try:
                enforce_login_rate(self.request, username)
            except Throttled as exc:
                self.refused_status, self.retry_after = 429, max(1, math.ceil(exc.wait or 1))
                raise forms.ValidationError(
                    "Too many sign-in attempts for this e-mail or from this address. "
                    f"Try again in {self.retry_after} seconds.",
                    code="throttled",
                ) from None
            except LoginUnavailable as exc:
                self.refused_status, self.retry_after = 503, exc.retry_after
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return super().clean()


def _with_refusal_status(response: HttpResponse) -> HttpResponse:
    """The login page refused by the limiter answers 429 (503 when the limiter cannot
    answer) with ``Retry-After``, like the API, instead of an ordinary 200."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    status = getattr(form, "refused_status", None)
    if status is not None:
        response.status_code = status
        response["Retry-After"] = str(form.retry_after)
    return response


def limit_admin_login(site: AdminSite) -> None:
    """Give an admin site (the tenant admin, Django's default ``admin.site`` for the
    platform) the throttled login; call it before the site's URLs are built."""
    if getattr(site, "_atrium_login_limited", False):
        return
    plain_login = site.login

    @functools.wraps(plain_login)  # keeps never_cache and login_not_required
    def login(request: HttpRequest, extra_context=None) -> HttpResponse:
        return _with_refusal_status(plain_login(request, extra_context))

    site.login_form = ThrottledAdminAuthenticationForm
    site.login = login
    site._atrium_login_limited = True
