"""Plans: the validated choice of ``settings.ATRIUM_PLANS`` (name → request limits and
quotas), and the quotas of a plan."""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

from atrium.conf import atrium_settings
from atrium.errors import InvalidInput

PLAN_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # fits Tenant.plan (max_length 32)
LIMIT_KEYS = frozenset({"burst", "sustained"})
# What a plan may cap: active users, live products, the schema's bytes. Absent or None: no
# quota (so a plan of request limits alone, as older settings wrote them, has none).
QUOTA_KEYS = ("seats", "products", "storage_bytes")


def plan_names() -> list[str]:
    return list(atrium_settings.PLANS)


def plan_choices() -> list[tuple[str, str]]:
    """Tenant.plan's choices, read from settings whenever they are asked for (a callable,
    so a new plan needs no migration)."""
    return [(name, name.title()) for name in atrium_settings.PLANS]


def default_plan() -> str:
    return atrium_settings.DEFAULT_PLAN


def plan_quotas(plan: str) -> dict[str, int | None]:
    """The quotas of ``plan``, every key of QUOTA_KEYS (None: no quota); an unknown plan
    (one removed from the settings since a tenant was put on it) has the default plan's."""
    plans = atrium_settings.PLANS
    limits = plans.get(plan) or plans[atrium_settings.DEFAULT_PLAN]
    return {key: limits.get(key) for key in QUOTA_KEYS}


def validate_plan(plan: str) -> str:
    if plan not in atrium_settings.PLANS:
        raise InvalidInput(
            f"Unknown plan {plan!r}; choose one of: {', '.join(atrium_settings.PLANS)}."
        )
    return plan


def check_settings() -> None:
    """Refuse to start with a malformed plan table (run by the app's ``ready``)."""
    plans = atrium_settings.PLANS
    if not isinstance(plans, dict) or not plans:
        raise ImproperlyConfigured(
            "ATRIUM_PLANS must be a non-empty dict of plan name -> limits, e.g. "
            '{"free": {"burst": "30/10s", "sustained": "600/h", "seats": 25}}.'
        )
    for name, limits in plans.items():
        if not isinstance(name, str) or not PLAN_NAME.fullmatch(name):
            raise ImproperlyConfigured(
                f"ATRIUM_PLANS: invalid plan name {name!r}: use 1-32 of a-z, 0-9, '_' and '-', "
                "starting with a letter."
            )
        if (
            not isinstance(limits, dict)
            or not set(limits) >= LIMIT_KEYS
            or not set(limits) <= LIMIT_KEYS | set(QUOTA_KEYS)
        ):
            raise ImproperlyConfigured(
                f"ATRIUM_PLANS[{name!r}] must be a dict with the keys {sorted(LIMIT_KEYS)} "
                "(a rate like '30/10s', or None for no limit) and optionally "
                f"{list(QUOTA_KEYS)} (a whole number >= 0, or None for no quota)."
            )
        for key in LIMIT_KEYS:
            rate = limits[key]
            if rate is not None and not isinstance(rate, str):
                raise ImproperlyConfigured(
                    f"ATRIUM_PLANS[{name!r}][{key!r}] must be a rate like '30/10s' or None."
                )
        for key in QUOTA_KEYS:
            quota = limits.get(key)
            if quota is not None and (
                not isinstance(quota, int) or isinstance(quota, bool) or quota < 0
            ):
                raise ImproperlyConfigured(
                    f"ATRIUM_PLANS[{name!r}][{key!r}] must be a whole number >= 0 or None "
                    "(no quota)."
                )
    if atrium_settings.DEFAULT_PLAN not in plans:
        raise ImproperlyConfigured(
            f"ATRIUM_DEFAULT_PLAN {atrium_settings.DEFAULT_PLAN!r} is not one of ATRIUM_PLANS "
            f"({', '.join(plans)})."
        )
