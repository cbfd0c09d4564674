"""The Celery door: the sender's tenant travels with every task and the worker enters it.

tenant-schemas-celery puts the sender's schema in the ``_schema_name`` message header and,
in the worker, switches the connection's schema from ``task_prerun`` / ``task_postrun``
signal handlers. Those handlers set only the database schema, not the ContextVar that Redis
keys, locks and channel groups read, so they are replaced here by handlers that enter
``atrium.tenants.context.tenant_scope`` (or ``public_scope``) instead. The scope is entered
before the task body and left in the tracer's ``finally`` after everything the worker does
for the task — the body, its retry message, the next step of a chain, link callbacks, a
chord's body — so every message the task sends carries its tenant. The header itself is
written from the active scope (``ScopedCelery.send_task`` and ``ScopedTask.apply``), not
from the connection; the worker resolves the schema to its tenant through the routing
directory (``_tenant_for_schema``: no SQL once warm).

The bases. ``ScopedTask`` is every task of the app (Celery's own included) and declares the
hooks a run is checked with (``check_scope``, ``check_queued_run``); the platform's task
class (``atrium.platform.tasks.AtriumTask``) extends it with the guard that calls them,
retries, idempotency and logging. ``TenantScopedTask`` refuses to run without a tenant
(``TenantRequired``: the sender had none, or its tenant no longer exists) and refuses a
queued message of a tenant that is not active (``TenantInactive``); ``PublicScopedTask``
always runs in the public scope, whoever sent it.

Inactive tenants. Work queued for a tenant that is suspended or archived by the time a
worker takes it is refused rather than deferred: a suspended tenant may never come back and
an archived one is on its way out. The worker trusts its copy of the tenant directory for
ATRIUM_TASK_TENANT_RECHECK_SECONDS (1 s) and a status change bumps the directory's version
when it commits, so a message that starts at most that long after a suspension may still
run; a run already under way finishes. A bump lost in a Redis outage stretches that to
ATRIUM_ROUTING_MAX_AGE (30 s): no copy of the directory is trusted longer
(atrium.tenants.routing).

After commit. ``send_on_commit`` is the one way to send a task once the current
transaction commits: the message carries the scope active when it was asked for.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

import redis
from celery import current_app
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import close_old_connections, transaction
from tenant_schemas_celery.app import CeleryApp
from tenant_schemas_celery.task import TenantTask as SchemaHeaderTask

from .context import (
    NoTenantError,
    Scope,
    active_scope,
    current_tenant_or_none,
    on_commit,
    public_scope,
    tenant_scope,
)

logger = logging.getLogger("atrium.tasks")

# tenant-schemas-celery's header name: its scheduler and tools keep understanding our messages.
SCHEMA_HEADER = "_schema_name"


class TenantRequired(NoTenantError):
    """A tenant-scoped task was sent without a tenant, or for a tenant that is gone."""


class TaskRefused(Exception):
    """A queued task that may not run now, decided before its body (``check_queued_run``):
    the body never runs, nothing is claimed or locked, and the run is logged with outcome
    ``inactive``.

    ``code`` is stable; ``status`` says what was found (a tenant's status, say). Both are
    arguments, so the exception survives the result backend whole."""

    code = "task_refused"

    def __init__(self, message: str, status: str = "") -> None:
        super().__init__(message, status)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class TenantInactive(TaskRefused):
    """A queued tenant task's tenant is not active (suspended, archived): it does not run.
    ``status`` is the tenant's status when the task was refused."""

    code = "tenant_inactive"


# ----------------------------------------------------------------------------- headers


def _sender_schema() -> str:
    """The schema a message is sent for: the active scope's, else the public schema."""
    try:
        return active_scope().schema_name
    except NoTenantError:
        return settings.PUBLIC_SCHEMA_NAME


def headers_with_scope(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """``headers`` plus the sender's schema, unless the caller named one explicitly (a
    retry re-sends its own headers; an operator may target a schema on purpose)."""
    headers = dict(headers or {})
    headers.setdefault(SCHEMA_HEADER, _sender_schema())
    return headers


def request_header(request, name: str) -> Any:
    """A custom header of the running task: the Redis transport merges custom headers into
    the request itself, eager runs keep them under ``request.headers``."""
    headers = getattr(request, "headers", None) or {}
    if name in headers:
        return headers[name]
    return getattr(request, name, None)


# ----------------------------------------------------------------------------- the app


class ScopedCelery(CeleryApp):
    """tenant-schemas-celery's app, with the schema header taken from our tenant context."""

    task_cls = "atrium.tenants.celery:ScopedTask"

    def create_task_cls(self):
        return self.subclass_with_self(
            self.task_cls, abstract=True, name="ScopedTask", attribute="_app"
        )

    def send_task(self, name, args=None, kwargs=None, **options):
        options["headers"] = headers_with_scope(options.get("headers"))
        return super().send_task(name, args=args, kwargs=kwargs, **options)


class ScopedTask(SchemaHeaderTask):
    """Every task of the app (Celery's own included): runs in the scope its header names.

    Subclasses choose the scope with ``task_scope``; tasks of no base of ours run in the
    sender's tenant when it exists, else in the public scope.
    """

    abstract = True
    # True for a base that raises a failure to enter the scope from its own run
    # (``scope_error``); any other task is warned about and runs in the public scope.
    raises_scope_error = False

    def task_scope(self, schema_name: str | None) -> AbstractContextManager:
        if not schema_name or schema_name == settings.PUBLIC_SCHEMA_NAME:
            return public_scope()
        return tenant_scope(_tenant_for_schema(schema_name))

    def direct_scope(self) -> AbstractContextManager:
        """The scope of a plain function call (``task(...)``): the caller's."""
        return nullcontext()

    def check_scope(self, scope: Scope) -> None:
        """Raise when the task may not run in ``scope``."""

    def check_queued_run(self, scope: Scope, args: tuple, kwargs: dict) -> None:
        """Raise when a message (with these arguments) may not run in ``scope`` now: a
        ``TaskRefused`` to refuse it for good. A direct call skips this."""
        self.check_scope(scope)

    def check_arguments(self, args: Sequence, kwargs: Mapping) -> None:
        """Raise when a message may not carry these arguments (checked when it is sent)."""

    def apply(self, args=None, kwargs=None, *arg, **options):
        options["headers"] = headers_with_scope(options.get("headers"))
        return super().apply(args, kwargs, *arg, **options)


class TenantScopedTask(ScopedTask):
    """A task of one tenant: runs in the sender's tenant scope, refuses to run without one."""

    abstract = True

    def check_scope(self, scope: Scope) -> None:
        if scope.tenant is None:
            raise TenantRequired(
                f"The task {self.name!r} needs a tenant and was sent from the "
                f"{scope.schema_name!r} schema: send it inside tenant_scope(tenant), or fan it "
                "out with platform.run_for_active_tenants."
            )

    def check_queued_run(self, scope: Scope, args: tuple, kwargs: dict) -> None:
        """A queued message of a tenant that is not active is refused (``TenantInactive``).

        The scope's tenant comes from the worker's copy of the routing directory, which a
        status change makes stale (it bumps the directory version) and which the worker
        re-checks every ATRIUM_TASK_TENANT_RECHECK_SECONDS: so a message that starts up to
        that long after a suspension commits may still run (up to ATRIUM_ROUTING_MAX_AGE if
        the bump was lost in a Redis outage). A refusal is rare, so it is
        decided on the database's status, not on the copy: a tenant just activated again is
        never refused from a stale copy."""
        from .models import TenantStatus

        super().check_queued_run(scope, args, kwargs)
        tenant = scope.tenant
        if tenant.is_serving:
            return
        status = _tenant_status(tenant)
        if status == TenantStatus.ACTIVE:
            return
        if status is None:
            raise TenantRequired(
                f"The task {self.name!r} was sent for the tenant {tenant.slug!r}, which no "
                "longer exists; it is refused."
            )
        raise TenantInactive(
            f"The task {self.name!r} did not run: its tenant {tenant.slug!r} is {status}. "
            "Send it again once the tenant is active.",
            status,
        )


class PublicScopedTask(ScopedTask):
    """A platform task: always runs in the public scope, whichever scope sent it."""

    abstract = True

    def task_scope(self, schema_name: str | None) -> AbstractContextManager:
        return public_scope()

    def direct_scope(self) -> AbstractContextManager:
        return public_scope()

    def check_scope(self, scope: Scope) -> None:
        if not scope.is_public:
            raise RuntimeError(f"The platform task {self.name!r} ran outside the public scope.")


def _tenant_status(tenant) -> str | None:
    """The tenant's status in the database (None: the row is gone)."""
    from .models import Tenant

    with public_scope():
        return Tenant.objects.filter(pk=tenant.pk).values_list("status", flat=True).first()


def _tenant_for_schema(schema_name: str):
    """The tenant a message was sent for, from the routing directory (no SQL once warm,
    and a suspension or deletion is seen on the next task, as on the next request)."""
    from .directory import directory

    # An eager task started inside its sender's scope needs no lookup.
    active = current_tenant_or_none()
    if active is not None and active.schema_name == schema_name:
        return active
    record = directory.schema_lookup(schema_name)
    if record is None:
        raise TenantRequired(
            f"The task was sent for the schema {schema_name!r}, which belongs to no tenant "
            "(deleted since?); it is refused."
        )
    return record.to_tenant()


# ----------------------------------------------------------------------------- sending


def send_on_commit(
    task: ScopedTask | str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    on_error: Callable[[Exception], object] | None = None,
) -> None:
    """Send ``task`` (a task, or a registered task's name) once the current transaction
    commits, at once outside one. The one way to send after commit.

    The message carries the scope active *now*, even if the commit happens after it ended
    (Celery's own ``delay_on_commit`` would send for whatever scope is active then).
    Arguments must be ids and plain values, checked now, not at commit. A name sends as
    beat does, so a module need not import the task it schedules. ``on_error(exc)`` is
    called when the send fails (the broker is away): the transaction has committed, so it
    decides what becomes of the work; without it, the error reaches whoever committed.
    """
    kwargs = dict(kwargs or {})
    if isinstance(task, str):
        # Resolved when sent: the registered task's apply_async (eager in tests), else by name.
        send = current_app.signature(task, args=list(args), kwargs=kwargs).apply_async
    else:
        task.check_arguments(args, kwargs)
        send = functools.partial(task.apply_async, list(args), kwargs)
    if on_error is not None:
        send = functools.partial(_send_or_handle, send, on_error)
    try:
        active_scope()
    except NoTenantError:
        transaction.on_commit(send)  # no scope: the message says public
    else:
        on_commit(send)


def _send_or_handle(send: Callable[[], object], on_error: Callable[[Exception], object]) -> None:
    try:
        send()
    except Exception as exc:
        on_error(exc)


# ----------------------------------------------------------------------------- the worker

# tenant-schemas-celery connects its own schema switch at import time; ours replaces it
# (same signals, so the same place in Celery's tracer).
task_prerun.disconnect(sender=None, dispatch_uid="tenant_schemas_switch_schema")
task_postrun.disconnect(sender=None, dispatch_uid="tenant_schemas_restore_schema")

_SCOPE_STACK = "atrium_scope_stack"
_SCOPE_ERROR = "atrium_scope_error"


def scope_error(request) -> Exception | None:
    """The failure to enter the scope of the running task (``_enter_task_scope``), if any."""
    return getattr(request, _SCOPE_ERROR, None)


@task_prerun.connect(dispatch_uid="atrium_enter_task_scope")
def _enter_task_scope(sender=None, task=None, **_: Any) -> None:
    """Enter the task's scope before its body; ``_leave_task_scope`` closes it.

    Celery logs and swallows exceptions of signal handlers, so a failure here is kept on
    the request and raised by the task itself (``scope_error``; the platform's tasks retry
    it when transient). Until then the task stands in the public scope, never in a tenant's.
    """
    task = task or sender
    request = task.request
    _recycle_connections(request)
    stack = ExitStack()
    schema_name = request_header(request, SCHEMA_HEADER)
    try:
        scope = (
            task.task_scope(schema_name)
            if isinstance(task, ScopedTask)
            else ScopedTask.task_scope(task, schema_name)
        )
        stack.enter_context(scope)
    except Exception as exc:
        setattr(request, _SCOPE_ERROR, exc)
        stack.enter_context(public_scope())
        if not getattr(task, "raises_scope_error", False):
            logger.warning(
                "task %s[%s]: could not enter the scope of schema %r; running in public",
                task.name,
                request.id,
                schema_name,
                exc_info=True,
            )
    setattr(request, _SCOPE_STACK, stack)


@task_postrun.connect(dispatch_uid="atrium_leave_task_scope")
def _leave_task_scope(sender=None, task=None, **_: Any) -> None:
    task = task or sender
    stack = getattr(task.request, _SCOPE_STACK, None)
    if stack is not None:
        delattr(task.request, _SCOPE_STACK)
        stack.close()
    _recycle_connections(task.request)


def _recycle_connections(request) -> None:
    """Per task what Django does per request: hand back (to the pool) or close connections
    that are obsolete or broken. Celery's own per-task close is off (CELERY_DB_REUSE_MAX):
    it closed the connection, and with a pool the whole pool, around every task. Eager
    runs share their caller's connection and transaction, so they are left alone."""
    if not getattr(request, "is_eager", False):
        close_old_connections()


# ----------------------------------------------------------------------------- purge

# Kombu's Redis transport: each queue is a list of JSON messages; a message handed to a
# worker and not yet acknowledged waits in this hash (restored to its queue if the worker
# dies), indexed by delivery time in the sorted set.
UNACKED_KEY, UNACKED_INDEX_KEY = "unacked", "unacked_index"


def _message_schema(raw: bytes) -> str | None:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(message, list) and message:  # an unacked entry: [message, exchange, key]
        message = message[0]
    headers = message.get("headers") if isinstance(message, dict) else None
    return headers.get(SCHEMA_HEADER) if isinstance(headers, dict) else None


def tenant_messages_purge(schema_name: str) -> int:
    """Delete the tenant's messages still waiting in the broker (queued, or delivered and
    unacknowledged); returns how many. A message a worker already holds is refused when it
    runs (its tenant is gone, ``TenantRequired``). Only the Redis transport is read."""
    url = current_app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return 0
    client = redis.Redis.from_url(url)
    removed = 0
    try:
        for key in client.scan_iter(_type="list", count=1000):
            for raw in client.lrange(key, 0, -1):
                if _message_schema(raw) == schema_name:
                    removed += client.lrem(key, 0, raw)
        for tag, raw in client.hscan_iter(UNACKED_KEY, count=1000):
            if _message_schema(raw) == schema_name:
                removed += client.hdel(UNACKED_KEY, tag)
                client.zrem(UNACKED_INDEX_KEY, tag)
    finally:
        client.close()
    return removed


def tenant_messages_count(schema_name: str) -> int:
    """How many of the tenant's messages wait in the broker (for checks and tests)."""
    url = current_app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return 0
    client = redis.Redis.from_url(url)
    try:
        queued = sum(
            _message_schema(raw) == schema_name
            for key in client.scan_iter(_type="list", count=1000)
            for raw in client.lrange(key, 0, -1)
        )
        unacked = sum(
            _message_schema(raw) == schema_name
            for _, raw in client.hscan_iter(UNACKED_KEY, count=1000)
        )
    finally:
        client.close()
    return queued + unacked


__all__ = [
    "SCHEMA_HEADER",
    "PublicScopedTask",
    "ScopedCelery",
    "ScopedTask",
    "TaskRefused",
    "TenantInactive",
    "TenantRequired",
    "TenantScopedTask",
    "headers_with_scope",
    "request_header",
    "scope_error",
    "send_on_commit",
    "tenant_messages_count",
    "tenant_messages_purge",
]
