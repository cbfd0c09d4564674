"""The platform's audit log: operators' actions (CLI, platform admin) in the public schema.

``platform_audit_record`` writes one ``PlatformAuditEvent`` in the caller's transaction, so
an action that rolls back leaves no entry. Who acted comes from the operator scope the
door entered (``operator_scope``): the ``tenants`` CLI enters one for the OS user and host
running it, the platform admin one for its signed-in user. The same scope tells the
tenant audit log (``atrium.platform.audit``) that an operator, not the system, acted in a
tenant (``tenants run``).
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .context import public_scope
from .models import PlatformAuditEvent, Tenant


@dataclass(frozen=True, slots=True)
class Operator:
    source: str  # "cli" or "admin"
    actor: str  # the OS user (cli) or the admin user's e-mail
    os_user: str = ""
    host: str = ""

    @property
    def label(self) -> str:
        return f"{self.os_user}@{self.host}" if self.source == "cli" else self.actor


# The published vocabulary of platform actions; platform_audit_record refuses any other.
PLATFORM_ACTIONS: dict[str, str] = {
    "tenant.created": "A tenant was created.",
    "tenant.suspended": "A tenant was suspended.",
    "tenant.activated": "A tenant was activated (or re-activated).",
    "tenant.archived": "A tenant was deleted (archived; its data kept).",
    "tenant.purged": "A tenant was purged: what was removed, with counts.",
    "tenant.plan_changed": "A tenant's plan changed.",
    "tenant.cors_changed": "A tenant's allowed CORS origins changed.",
    "tenant.settings_changed": "A tenant's own settings changed (tenants settings).",
    "tenant.updated": "A tenant's name or other fields changed (platform admin).",
    "domain.added": "A domain was added to a tenant.",
    "domain.removed": "A domain was removed from a tenant.",
    "domain.primary_set": "A tenant's primary domain changed.",
    "tenant.exported": "A tenant was exported to an archive.",
    "tenant.imported": "A tenant was restored from an archive.",
    "tenant.run": "An operator ran a command inside a tenant (tenants run).",
}

_operator: ContextVar[Operator | None] = ContextVar("atrium_operator", default=None)


def cli_operator() -> Operator:
    """The OS user and host running this process."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no user name for the uid (some containers)
        os_user = "unknown"
    return Operator(source="cli", actor=os_user, os_user=os_user, host=socket.gethostname())


def admin_operator(user) -> Operator:
    return Operator(source="admin", actor=getattr(user, "email", "") or str(user))


@contextmanager
def operator_scope(operator: Operator) -> Iterator[Operator]:
    token = _operator.set(operator)
    try:
        yield operator
    finally:
        _operator.reset(token)


def current_operator() -> Operator | None:
    return _operator.get()


def platform_audit_record(
    action: str,
    *,
    tenant: Tenant | str | None = None,
    details: dict[str, Any] | None = None,
    actor: Operator | Any = None,
) -> PlatformAuditEvent:
    """Record an operator's ``action`` (``tenant.suspended``, …) on ``tenant`` (a Tenant or
    a slug). ``actor``: an ``Operator``, a platform admin user, or None for the current
    operator scope (outside any: the system)."""
    if action not in PLATFORM_ACTIONS:
        raise ValueError(f"Unknown platform audit action {action!r}: add it to PLATFORM_ACTIONS.")
    if actor is None:
        actor = current_operator()
    elif not isinstance(actor, Operator):
        actor = admin_operator(actor)
    if isinstance(tenant, Tenant):
        tenant_id, tenant_slug = tenant.pk, tenant.slug
    else:
        tenant_id, tenant_slug = None, tenant or ""
    with public_scope():
        return PlatformAuditEvent.objects.create(
            action=action,
            tenant_id=tenant_id,
            tenant_slug=tenant_slug,
            source=actor.source if actor else "system",
            actor=actor.actor if actor else "system",
            os_user=actor.os_user if actor else "",
            host=actor.host if actor else "",
            details=details or {},
        )
