"""``tenants plan <slug> [<plan>]``: show or change a tenant's plan."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from atrium.tenants import services
from atrium.tenants.plans import plan_names, plan_quotas

from .output import emit
from .parsers import json_flag, tenant_command


def add_parsers(sub) -> None:
    p = tenant_command(
        sub,
        "plan",
        "Show a tenant's plan, or change it (seen by every process on its next request).",
    )
    p.add_argument(
        "plan",
        nargs="?",
        help=f"The new plan: one of {', '.join(plan_names())} (ATRIUM_PLANS).",
    )
    json_flag(p)


def plan(cmd: BaseCommand, options) -> None:
    slug, new = options["slug"], options["plan"]
    before = services.tenant_get(slug).plan
    tenant = services.tenant_update(slug=slug, plan=new) if new is not None else None
    current = tenant.plan if tenant is not None else before
    if new is None:
        text = f"{slug} is on the {current} plan."
    elif current == before and new == before:
        text = f"{slug} is already on the {current} plan; nothing changed."
    else:
        text = f"{slug} moved from the {before} plan to {current}."
    data = {"slug": slug, "plan": current, "quotas": plan_quotas(current)}
    if new is not None:
        data.update(previous=before, changed=current != before)
    emit(cmd, options, text, data)


HANDLERS = {"plan": plan}
