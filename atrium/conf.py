"""Atrium's own settings: each declared once, with its default, and read through one accessor.

``atrium_settings.SPARE_POOL_SIZE`` is ``settings.ATRIUM_SPARE_POOL_SIZE`` when the settings
(or ``override_settings``, or the pytest ``settings`` fixture) define it, else its default
declared here. It is read at access time, never cached, so an override applies at once. A
name that is declared nowhere raises ``AttributeError``, which names where to declare it.

Where the defaults are declared:

* ``DEFAULTS`` below: the settings of the tenancy kernel and the platform. Most come from
  an environment variable with a development default, read once when this module is
  imported (as a settings module reads its environment); ``config/settings/base.py`` puts
  them into Django's settings as ``ATRIUM_<NAME>``, so that ``manage.py diffsettings``
  shows them and the settings of an environment (test, prod) can build on them.
* ``DEFAULTS`` in an app's own ``conf.py`` (``atrium/apps/catalog/conf.py``): the settings
  of that app, found in every installed ``atrium.*`` app the first time a name not declared
  here is read. Shared settings never list an app's settings: adding an app means adding
  it to ``TENANT_APPS`` and nothing else.

A leaf module: it imports nothing of Atrium, so every layer (and the settings) may use it.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from django.conf import settings

PREFIX = "ATRIUM_"


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# ---------------------------------------------------------------------------- hosts, plans
_BASE_DOMAIN = env("ATRIUM_BASE_DOMAIN", "localhost").strip().lower().rstrip(".")
# Plans: name -> what a tenant on it gets. API request limits, per user (or per client IP
# when anonymous): a short "burst" window and a "sustained" one (a rate like "30/10s"; None:
# no limit). Quotas, enforced by the services that create what they count (a 403
# quota_exceeded past them; None or absent: no quota): "seats", active users; "products",
# live catalog products; "storage_bytes", the tenant's database schema (shown by the usage
# API and CLI, not enforced). A tenant's plan is always one of these: it is the Tenant.plan
# field's choices, and the CLI, the platform admin and every service refuse any other.
# Checked when Django starts (atrium.tenants.plans).
_GIB = 1024**3
_PLANS = {
    "free": {
        "burst": "30/10s",
        "sustained": "600/h",
        "seats": 25,
        "products": 1_000,
        "storage_bytes": 1 * _GIB,
    },
    "pro": {
        "burst": "100/10s",
        "sustained": "6000/h",
        "seats": 250,
        "products": 100_000,
        "storage_bytes": 50 * _GIB,
    },
    "enterprise": {
        "burst": "300/10s",
        "sustained": "60000/h",
        "seats": None,
        "products": None,
        "storage_bytes": None,
    },
}
# The request limits alone, by plan (ATRIUM_RATE_LIMITS below).
_RATE_LIMITS = {
    name: {"burst": plan["burst"], "sustained": plan["sustained"]} for name, plan in _PLANS.items()
}

DEFAULTS: dict[str, Any] = {
    "BASE_DOMAIN": _BASE_DOMAIN,
    # Hosts that serve the platform (public) urlconf in addition to the base domain.
    "PUBLIC_HOSTS": [
        host.strip().lower()
        for host in env("ATRIUM_PUBLIC_HOSTS", f"www.{_BASE_DOMAIN}").split(",")
        if host.strip()
    ],
    # How tenant URLs are printed (CLI, demo): scheme and port of the public entry point.
    "SITE_SCHEME": env("ATRIUM_SITE_SCHEME", "http"),
    "SITE_PORT": env("ATRIUM_SITE_PORT", "8000"),
    # The sender's name of mail from the platform host (sign-up); a tenant's mail carries
    # the tenant's name.
    "PLATFORM_NAME": env("ATRIUM_PLATFORM_NAME", "Atrium"),
    # How often a mail is retried when the SMTP server is down or refuses (backoff with
    # jitter from 5 s up to 15 min between tries: about 2 hours in all).
    "MAIL_MAX_RETRIES": env_int("ATRIUM_MAIL_MAX_RETRIES", 10),
    "TEMPLATE_SCHEMA": "_template",
    "SPARE_SCHEMA_PREFIX": "_spare_",
    "SPARE_POOL_SIZE": env_int("ATRIUM_SPARE_POOL_SIZE", 3),
    # `tenants migrate`: every statement waits at most this long (seconds) for a lock, so
    # a busy table never stalls the run or the requests queued behind it; a schema whose
    # lock times out is retried this many times with backoff, then reported as failed.
    "MIGRATE_LOCK_TIMEOUT": float(env("ATRIUM_MIGRATE_LOCK_TIMEOUT", "2")),
    "MIGRATE_LOCK_RETRIES": env_int("ATRIUM_MIGRATE_LOCK_RETRIES", 4),
    "PLANS": _PLANS,
    "DEFAULT_PLAN": "free",
    # ------------------------------------------------------------------------ routing
    # How long the in-process host directory trusts itself when Redis cannot be asked.
    "ROUTING_FALLBACK_TTL": float(env("ATRIUM_ROUTING_FALLBACK_TTL", "5")),
    "ROUTING_LOCAL_MAX_HOSTS": env_int("ATRIUM_ROUTING_LOCAL_MAX_HOSTS", 50_000),
    # The longest any copy of the host directory (a process's, the shared Redis hash) is
    # trusted after it was read from the database: the bound on how long a tenant change
    # whose invalidation was lost (made while Redis was away) can go unseen.
    "ROUTING_MAX_AGE": float(env("ATRIUM_ROUTING_MAX_AGE", "30")),
    # How long a Celery worker trusts its copy of the tenant directory before it asks Redis
    # whether it changed (HTTP asks on every request).
    "TASK_TENANT_RECHECK_SECONDS": float(env("ATRIUM_TASK_TENANT_RECHECK_SECONDS", "1")),
    # Periodic work of every tenant, task name -> schedule, fanned out by beat to each active
    # tenant. None: what the installed apps declare (AppConfig.tenant_periodic_tasks,
    # gathered by atrium/platform/schedule.py); a dict replaces all of it.
    "TENANT_PERIODIC_TASKS": None,
    # Whole-tenant import (atrium/tenants/archive.py): what a restored schema must lose, by
    # app label, for the apps that are not Atrium's own (Atrium's apps declare theirs as
    # ``tenant_import_resets`` on their AppConfig): the source's sessions and JWT records.
    # Statements run in the restored schema; ``%(old_root)s``/``%(new_root)s`` are the
    # source's and the new tenant's storage folders.
    "TENANT_IMPORT_RESETS": {
        "sessions": ("DELETE FROM django_session",),
        "token_blacklist": (
            "DELETE FROM token_blacklist_blacklistedtoken",
            "DELETE FROM token_blacklist_outstandingtoken",
        ),
    },
    # Seconds ``tenants export`` waits for a table lock (pg_dump --lock-wait-timeout): a
    # migration holding one fails the export instead of queueing the tenant's traffic behind.
    "EXPORT_LOCK_WAIT_SECONDS": env_int("ATRIUM_EXPORT_LOCK_WAIT_SECONDS", 30),
    # ------------------------------------------------------------------------ database
    # atrium/tenants/database.py: a transaction-mode pooler (PgBouncer) is refused at the
    # first connection of each process; a pooled connection is retired after
    # DB_POOL_MAX_USES borrows, which bounds its backend's catalog cache (~0.2 MiB per
    # tenant schema served; 0: never). The pool itself: config/settings/database.py.
    "DB_POOLER_CHECK": env_bool("DB_POOLER_CHECK", True),
    "DB_POOL_MAX_USES": env_int("DB_POOL_MAX_USES", 200),
    # Seconds /readyz waits for PostgreSQL before it reports it unavailable (its own budget:
    # a request waits up to DB_POOL_TIMEOUT for a connection).
    "READYZ_DB_TIMEOUT": float(env("ATRIUM_READYZ_DB_TIMEOUT", "1")),
    # ------------------------------------------------------------------------ cache
    # Seconds a cached API response lives (atrium/platform/cache.py). Also the longest a
    # cached response can stay stale after a write whose invalidation Redis missed and whose
    # process died before it could apply it; lower it to tighten that bound.
    "RESPONSE_CACHE_TTL": env_int("ATRIUM_RESPONSE_CACHE_TTL", 60),
    # Seconds the user entry that authentication reads lives (atrium/platform/accounts/
    # usercache.py): the longest a change of a user (deactivation, revocation) whose
    # invalidation Redis missed, in a process that died before it could apply it, can go
    # unseen by the other processes.
    "AUTH_CACHE_TTL": env_int("ATRIUM_AUTH_CACHE_TTL", 30),
    # ------------------------------------------------------------------------ API
    # Levels a JSON body may nest (arrays and objects); deeper is a 400 `json_too_deep`,
    # refused before it is decoded. The API's own bodies nest two levels.
    "JSON_MAX_DEPTH": env_int("ATRIUM_JSON_MAX_DEPTH", 32),
    # An API answer whose code is not in the registry of error codes (atrium/tenants/codes.py)
    # is logged; with this on (the test settings) it is an error.
    "ERROR_CODES_STRICT": env_bool("ATRIUM_ERROR_CODES_STRICT", False),
    # The largest request body of any kind: refused by Content-Length before it is read, and
    # cut off while it streams in (atrium/platform/uploads.py), with 413 request_too_large.
    # By default the largest upload (the catalog import's ATRIUM_IMPORT_MAX_BYTES, 5 MiB)
    # plus its multipart framing.
    "REQUEST_MAX_BYTES": env_int(
        "ATRIUM_REQUEST_MAX_BYTES", env_int("ATRIUM_IMPORT_MAX_BYTES", 5 * 1024 * 1024) + 64 * 1024
    ),
    # The request limits the API applies, by plan: the plans' own (PLANS). A separate name
    # so that tests and benchmarks can swap the limits without changing which plans exist.
    # Login has its own limits, per tenant + e-mail and per IP.
    "RATE_LIMITS": _RATE_LIMITS,
    "LOGIN_RATE_LIMITS": {"per_email": "5/min", "per_ip": "20/min"},
    # Reverse proxies in front of the app that append to X-Forwarded-For; the client address
    # is the entry the outermost one added. 0: the header is ignored (anyone can forge it).
    "TRUSTED_PROXY_COUNT": env_int("ATRIUM_TRUSTED_PROXY_COUNT", 0),
    # ------------------------------------------------------------------------ auth
    # The JWT claim that binds a token to the tenant it was minted on.
    "JWT_TENANT_CLAIM": "tid",
    # The JWT claim that carries the user's token version: a token whose version is not the
    # user's current one is refused (logout, deactivation, password or role change raise it).
    "JWT_VERSION_CLAIM": "ver",
    # Seconds a password-reset link (and its token) works; it works once, and dies at any
    # change of the password (atrium/platform/accounts/account_tokens.py).
    "PASSWORD_RESET_TTL": env_int("ATRIUM_PASSWORD_RESET_TTL", 3600),
    # Seconds the confirmation link of an e-mail change works (once).
    "EMAIL_CHANGE_TTL": env_int("ATRIUM_EMAIL_CHANGE_TTL", 86400),
    # ------------------------------------------------------------------------ invitations
    # Seconds an invitation's token works (resending makes a new token and a new expiry).
    "INVITATION_TTL": env_int("ATRIUM_INVITATION_TTL", 604800),
    # ------------------------------------------------------------------------ sign-up
    # Self-service sign-up on the platform host (atrium/platform/signup): off unless set
    # (1/0, true/false); the development and test settings turn it on.
    "SIGNUP_ENABLED": env_bool("ATRIUM_SIGNUP_ENABLED", False),
    # Seconds a sign-up's verification token works; the slug is held for that long.
    "SIGNUP_TTL": env_int("ATRIUM_SIGNUP_TTL", 86400),
    # Sign-up requests, per client address and per (canonical) e-mail.
    "SIGNUP_RATE_LIMITS": {
        "per_ip": env("ATRIUM_SIGNUP_RATE_PER_IP", "10/h"),
        "per_email": env("ATRIUM_SIGNUP_RATE_PER_EMAIL", "3/h"),
    },
    # ------------------------------------------------------------------------ WebSockets
    # Larger client frames close the socket with 1009 (clients only send pings).
    "WS_MAX_MESSAGE_BYTES": env_int("ATRIUM_WS_MAX_MESSAGE_BYTES", 64 * 1024),
    # Open sockets one user may hold at once (every server process together); one more is
    # closed with 4429 "too_many_sockets". 0: no cap. Each socket holds a lease in Redis,
    # renewed every third of WS_SOCKET_LEASE_SECONDS, so the slots of a crashed server
    # process come free within that many seconds.
    "WS_MAX_SOCKETS_PER_USER": env_int("ATRIUM_WS_MAX_SOCKETS_PER_USER", 20),
    "WS_SOCKET_LEASE_SECONDS": env_int("ATRIUM_WS_SOCKET_LEASE_SECONDS", 60),
    # Seconds a publish may wait for the channel layer before the event is dropped (logged).
    "REALTIME_PUBLISH_TIMEOUT": float(env("ATRIUM_REALTIME_PUBLISH_TIMEOUT", "2")),
    # ------------------------------------------------------------------------ events
    # Where published events go (atrium/platform/events): dotted paths of sinks, each
    # ``sink(events)``, called once per commit with its events, in this order: webhooks
    # first (they record and hand over to the worker, which then sends while the WebSocket
    # sink runs), then the WebSocket.
    "EVENT_SINKS": [
        "atrium.platform.webhooks.sink.enqueue_deliveries",
        "atrium.platform.realtime.sink.send_to_sockets",
    ],
    # Validate each payload against its declared JSON Schema when it is published, and
    # raise on a mismatch (on in the test settings; off in production, where it costs).
    "EVENTS_VALIDATE": env_bool("ATRIUM_EVENTS_VALIDATE", False),
    # ------------------------------------------------------------------------ observability
    # /metrics (platform host only, atrium/platform/observability/metrics.py): with a token,
    # scrapers send ``Authorization: Bearer <token>``; without one, only these client
    # addresses (IPs or networks, comma-separated) are answered.
    "METRICS_TOKEN": env("ATRIUM_METRICS_TOKEN", ""),
    "METRICS_ALLOW": [
        net.strip()
        for net in env("ATRIUM_METRICS_ALLOW", "127.0.0.0/8,::1").split(",")
        if net.strip()
    ],
    # OpenTelemetry traces go to this OTLP endpoint; empty: tracing is off. The exporter
    # reads the other OTEL_* variables (headers, protocol, service name) itself.
    "OTEL_ENDPOINT": env("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
    # Sentry error reports; empty: off.
    "SENTRY_DSN": env("SENTRY_DSN", ""),
    "SENTRY_ENVIRONMENT": env("SENTRY_ENVIRONMENT", "production"),
    "SENTRY_TRACES_SAMPLE_RATE": float(env("SENTRY_TRACES_SAMPLE_RATE", "0")),
    # ------------------------------------------------------------------------ metering
    # Days the per-day usage counters stay in Redis (t:<schema>:usage:<day>:…) after their
    # day, so a flush that could not run (beat or Redis down) catches up later.
    "USAGE_REDIS_DAYS": env_int("ATRIUM_USAGE_REDIS_DAYS", 3),
}


def app_defaults() -> dict[str, Any]:
    """The ``DEFAULTS`` of every installed Atrium app's ``conf.py``, by setting name."""
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import module_has_submodule

    apps.check_apps_ready()  # the installed apps decide which settings exist
    found: dict[str, Any] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("atrium.") or not module_has_submodule(config.module, "conf"):
            continue
        for name, default in getattr(import_module(f"{config.name}.conf"), "DEFAULTS", {}).items():
            if name in DEFAULTS or name in found:
                raise ImproperlyConfigured(
                    f"{PREFIX}{name} is declared twice ({config.name}.conf and another app or "
                    "atrium/conf.py): give one of them another name."
                )
            found[name] = default
    return found


class AtriumSettings:
    """``atrium_settings.NAME``: ``settings.ATRIUM_NAME`` if set, else NAME's default."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        self._defaults = defaults
        self._app_defaults: dict[str, Any] | None = None

    def default(self, name: str) -> Any:
        if name in self._defaults:
            return self._defaults[name]
        if self._app_defaults is None:
            self._app_defaults = app_defaults()
        if name in self._app_defaults:
            return self._app_defaults[name]
        if name.startswith(PREFIX):
            raise AttributeError(
                f"atrium_settings.{name}: drop the prefix, atrium_settings."
                f"{name.removeprefix(PREFIX)} reads settings.{name}."
            )
        raise AttributeError(
            f"Unknown Atrium setting {name!r}: declare {PREFIX}{name} with its default in "
            "DEFAULTS of atrium/conf.py, or of the conf.py of the app it belongs to."
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        default = self.default(name)
        return getattr(settings, PREFIX + name, default)


atrium_settings = AtriumSettings(DEFAULTS)
