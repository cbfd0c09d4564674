"""Writing the audit log: ``audit_record`` (called by the services, inside their transaction)
and the retention purge, the one code path allowed to delete entries."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pgtrigger
from django.db import models, transaction
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.platform.api.throttling import client_ip
from atrium.platform.observability import context as log_context
from atrium.tenants.audit import current_operator
from atrium.tenants.context import current_tenant_or_none

from .actions import ACTIONS
from .models import APPEND_ONLY_TRIGGER, ActorType, AuditEvent

# A field whose name matches is never stored in ``changes`` (before or after): passwords
# and their hashes, secrets (TOTP, webhook signing), tokens, API key hashes.
SECRET_FIELD = re.compile(r"password|secret|token|hashed_key|otp|recovery|private", re.I)
USER_AGENT_MAX = 500
LABEL_MAX = 255


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: ``type`` (ActorType), ``id`` and a human ``label``."""

    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorType.SYSTEM, "", "system")

    @classmethod
    def of_user(cls, user) -> Actor:
        return cls(ActorType.USER, str(user.pk), getattr(user, "email", "") or str(user))


def audit_log_active() -> bool:
    """Whether a tenant scope is active (the audit log lives in each tenant's schema; the
    platform's sign-ins, on the public schema, have none)."""
    return current_tenant_or_none() is not None


def _authenticated_user(request) -> Any:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def actor_of_request(request) -> Actor | None:
    """The principal of ``request``: its API key (``request.api_key_id``), else its user."""
    api_key_id = getattr(request, "api_key_id", None)
    if api_key_id is not None:
        key = getattr(request, "auth", None)
        label = getattr(key, "name", "") or getattr(key, "prefix", "") or str(api_key_id)
        return Actor(ActorType.API_KEY, str(api_key_id), label)
    user = _authenticated_user(request)
    return Actor.of_user(user) if user is not None else None


_acting: ContextVar[Actor | None] = ContextVar("atrium_audit_actor", default=None)


@contextmanager
def acting_as(actor: Any) -> Iterator[Actor]:
    """Attribute the entries recorded in the block to ``actor`` (a user or an ``Actor``):
    a job's work, run by a worker, is its creator's."""
    resolved = actor if isinstance(actor, Actor) else Actor.of_user(actor)
    token = _acting.set(resolved)
    try:
        yield resolved
    finally:
        _acting.reset(token)


def current_actor() -> Actor:
    """Who is acting: the block's ``acting_as``, else the current request's principal,
    else the operator running ``tenants run``, else the system (beat, a migration)."""
    acting = _acting.get()
    if acting is not None:
        return acting
    bound = log_context.current()
    request = bound.request if bound is not None else None
    if request is not None:
        actor = actor_of_request(request)
        if actor is not None:
            return actor
    operator = current_operator()
    if operator is not None:
        return Actor(ActorType.OPERATOR, operator.label, operator.label)
    return Actor.system()


def _resolve_actor(actor: Any) -> Actor:
    if actor is None:
        return current_actor()
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, str):  # "system"
        return Actor(actor, "", actor)
    # A service is given the request's user; when that user is an API key's principal,
    # the key is who acted.
    current = current_actor()
    if current.type == ActorType.API_KEY:
        return current
    return Actor.of_user(actor)


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, (set, frozenset, tuple)):
        return [_plain(item) for item in value]
    return value


def clean_changes(changes: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` without secret fields; model values become their ids."""
    cleaned = {}
    for field, pair in (changes or {}).items():
        if SECRET_FIELD.search(field):
            continue
        before, after = pair
        cleaned[field] = [_plain(before), _plain(after)]
    return cleaned


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The values of ``fields`` of ``instance`` now (``attname``: ids, not related rows)."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        values[name] = _plain(getattr(instance, getattr(field, "attname", name)))
    return values


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list]:
    """The fields whose value differs, as ``{field: [before, after]}``."""
    return {
        name: [before[name], after.get(name)] for name in before if before[name] != after.get(name)
    }


def _target_fields(target, target_type, target_id, target_label) -> tuple[str, str, str]:
    if target is not None:
        meta = target._meta
        target_type = target_type or f"{meta.app_label}.{meta.model_name}"
        target_id = target_id if target_id is not None else target.pk
        target_label = target_label if target_label is not None else str(target)
    return target_type or "", "" if target_id is None else str(target_id), target_label or ""


def _request_fields() -> tuple[str | None, str, str]:
    bound = log_context.current()
    if bound is None:
        return None, "", ""
    request = bound.request
    if request is None:
        return None, "", bound.request_id or ""
    ip = client_ip(request)
    try:
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        ip = None
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]
    return ip, user_agent, bound.request_id or ""


def audit_record(
    action: str,
    *,
    target: models.Model | None = None,
    target_type: str | None = None,
    target_id: Any = None,
    target_label: str | None = None,
    changes: Mapping[str, Any] | None = None,
    actor: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry to the active tenant's audit log, in the caller's transaction.

    ``target``: a model instance (its type is ``app_label.model_name``, its label its
    ``str``), or ``target_type``/``target_id``/``target_label``. ``changes``: ``{field:
    [before, after]}``; secret fields are dropped. ``actor``: a user, an ``Actor``, or None
    for the current request's principal (API key or user), else the operator of ``tenants
    run``, else the system. IP, user agent and request id come from the current request.
    """
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to audit.actions.ACTIONS.")
    who = _resolve_actor(actor)
    ip, user_agent, request_id = _request_fields()
    target_type, target_id, target_label = _target_fields(
        target, target_type, target_id, target_label
    )
    return AuditEvent.objects.create(
        action=action,
        actor_type=who.type,
        actor_id=who.id,
        actor_label=who.label[:LABEL_MAX],
        target_type=target_type,
        target_id=target_id,
        target_label=target_label[:LABEL_MAX],
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
        changes=clean_changes(changes),
        metadata=dict(metadata or {}),
    )


def audit_purge_expired(*, days: int | None = None) -> int:
    """Delete the entries older than ``days`` (ATRIUM_AUDIT_RETENTION_DAYS) in the active
    tenant. The documented exception to append-only: only this function lifts the trigger,
    for its own statement, with ``pgtrigger.ignore`` (a transaction-local setting the
    trigger reads). Returns how many were deleted."""
    days = atrium_settings.AUDIT_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    with transaction.atomic(), pgtrigger.ignore(APPEND_ONLY_TRIGGER):
        deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
