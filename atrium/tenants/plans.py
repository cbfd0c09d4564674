"""Plans: the validated choice of ``settings.ATRIUM_PLANS`` (name → limits)."""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

from atrium.conf import atrium_settings
from atrium.errors import InvalidInput

PLAN_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # fits Tenant.plan (max_length 32)
LIMIT_KEYS = frozenset({"burst", "sustained"})


def plan_names() -> list[str]:
    return list(atrium_settings.PLANS)


def plan_choices() -> list[tuple[str, str]]:
    """Tenant.plan's choices, read from settings whenever they are asked for (a callable,
    so a new plan needs no migration)."""
    return [(name, name.title()) for name in atrium_settings.PLANS]


def default_plan() -> str:
    return atrium_settings.DEFAULT_PLAN


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
            '{"free": {"burst": "30/10s", "sustained": "600/h"}}.'
        )
    for name, limits in plans.items():
        if not isinstance(name, str) or not PLAN_NAME.fullmatch(name):
            raise ImproperlyConfigured(
                f"ATRIUM_PLANS: invalid plan name {name!r}: use 1-32 of a-z, 0-9, '_' and '-', "
                "starting with a letter."
            )
        if not isinstance(limits, dict) or set(limits) != LIMIT_KEYS:
            raise ImproperlyConfigured(
                f"ATRIUM_PLANS[{name!r}] must be a dict with exactly the keys "
                f"{sorted(LIMIT_KEYS)} (a rate like '30/10s', or None for no limit)."
            )
        for key, rate in limits.items():
            if rate is not None and not isinstance(rate, str):
                raise ImproperlyConfigured(
                    f"ATRIUM_PLANS[{name!r}][{key!r}] must be a rate like '30/10s' or None."
                )
    if atrium_settings.DEFAULT_PLAN not in plans:
        raise ImproperlyConfigured(
            f"ATRIUM_DEFAULT_PLAN {atrium_settings.DEFAULT_PLAN!r} is not one of ATRIUM_PLANS "
            f"({', '.join(plans)})."
        )
