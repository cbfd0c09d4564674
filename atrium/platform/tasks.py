"""Celery base tasks: the sender's tenant travels with every task and the worker enters it.

The door. tenant-schemas-celery puts the sender's schema in the ``_schema_name`` message
header and, in the worker, switches the connection's schema from ``task_prerun`` /
``task_postrun`` signal handlers. Those handlers set only the database schema, not the
ContextVar that Redis keys, locks and channel groups read, so they are replaced here by
handlers that enter ``atrium.tenants.context.tenant_scope`` (or ``public_scope``) instead.
The scope is entered before the task body and left in the tracer's ``finally`` after
everything the worker does for the task — the body, its retry message, the next step of a
chain, link callbacks, a chord's body — so every message the task sends carries its tenant.
The header itself is written from the active scope (``AtriumCelery.send_task`` and
``ScopedTask.apply``), not from the connection.

The bases.
- ``TenantTask`` (``@tenant_task``): tenant business work. Refuses to run without a tenant
  (``TenantRequired``: the sender had none, or its tenant no longer exists), so it never
  runs in the public schema, and refuses a queued message of a tenant that is not active
  (``TenantInactive``, see "Inactive tenants" below).
- ``PlatformTask`` (``@platform_task``): platform work (the spare pool, the per-tenant
  fan-out). Always runs in the public scope, whoever sent it.
Both retry transient failures with exponential backoff and jitter, record an idempotency
key so a duplicate or redelivered message has one effect, write one structured log line per
run, and refuse model instances as arguments: tasks take ids.

Idempotency. The key is ``scoped_key("idem", <task name>, <key>)`` where ``<key>`` is the
``idempotency_key=`` given at send time, as a keyword of the task or as an option of
``apply_async`` / ``send_task`` / a signature (moved to a message header, so the task
function never sees it; two different keys for one message are refused) or, without one,
the task id — which a retry and a redelivery (``acks_late``) keep, so a message the broker
delivers twice has one effect, while two separate sends only share an effect when they
share an explicit key. A run claims the key (``SET NX``, a lease of ``idempotency_lease``
seconds holding the task id), marks it ``done`` for ``idempotency_ttl`` seconds after
success and frees it after a failure (so a retry, or a later send, can run). A message
whose key is ``done``, or held by a different task id that is running now, is skipped
(outcome ``duplicate``); a message with the task id that holds the lease is that task's own
redelivery after a crash and takes over. The broker's visibility timeout must exceed the
longest run, as Celery requires for ``acks_late`` anyway.

Inactive tenants. Work queued for a tenant that is suspended or archived by the time a
worker takes it fails (``TenantInactive``, logged with outcome ``inactive``) rather than
waiting for a reactivation: a suspended tenant may never come back and an archived one is
on its way out, a deferred message would have to be kept past the broker and re-sent, and
an import or export run days later would act on what was asked for long before. The
refusal comes before the idempotency key is claimed and before the body takes any lock, so
nothing is left held; a job task (``atrium.platform.jobs.tasks``) marks its job failed with
the code ``tenant_inactive``, so no job stays queued, and the tenant's users can ask again
once it is active. The same path serves every other refusal (``TaskRefused``, raised by a
base's ``check_queued_run``): a job task also refuses a job whose user has been deactivated
since (``user_inactive``). Beat's fan-out sends to active tenants only. The bound: the worker
trusts its copy of the tenant directory for ATRIUM_TASK_TENANT_RECHECK_SECONDS (1 s) and a
status change bumps the directory's version when it commits, so a message that starts at
most that long after a suspension may still run; a run already under way finishes. A bump
lost in a Redis outage stretches that to ATRIUM_ROUTING_MAX_AGE (30 s): no copy of the
directory is trusted longer (atrium.tenants.routing).
"""

from __future__ import annotations

import builtins
import functools
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from celery import shared_task
from celery.exceptions import Ignore, Reject, Retry
from celery.signals import task_postrun, task_prerun
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.db.models import Model, QuerySet
from django_redis import get_redis_connection
from tenant_schemas_celery.app import CeleryApp
from tenant_schemas_celery.task import TenantTask as SchemaHeaderTask

from atrium.platform.redis import LockHeld, registered_script
from atrium.tenants.context import (
    NoTenantError,
    Scope,
    active_scope,
    current_tenant_or_none,
    on_commit,
    public_scope,
    tenant_scope,
)
from atrium.tenants.keyspace import scoped_key

logger = logging.getLogger("atrium.tasks")

# tenant-schemas-celery's header name: its scheduler and tools keep understanding our messages.
SCHEMA_HEADER = "_schema_name"
IDEMPOTENCY_HEADER = "atrium_idempotency_key"
IDEMPOTENCY_KWARG = "idempotency_key"
IDEMPOTENCY_PURPOSE = "idem"

# Failures that say nothing about the task's input: worth another attempt later.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    builtins.ConnectionError,
    builtins.TimeoutError,
    LockHeld,
)


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


def _header(request, name: str) -> Any:
    """A custom header of the running task: the Redis transport merges custom headers into
    the request itself, eager runs keep them under ``request.headers``."""
    headers = getattr(request, "headers", None) or {}
    if name in headers:
        return headers[name]
    return getattr(request, name, None)


def _move_idempotency_key(kwargs: Mapping[str, Any] | None, options: dict[str, Any]) -> Any:
    """Move ``idempotency_key=`` into a header, so the task function never sees it, whether
    it was given as a keyword of the task (``delay(..., idempotency_key=k)``) or as an option
    of the send (``apply_async(..., idempotency_key=k)``, ``sig.set(idempotency_key=k)``),
    which Celery would otherwise pass to the broker as a message property and forget.
    Two different keys for one message are refused. Returns the task's kwargs."""
    given: list[Any] = [options.pop(IDEMPOTENCY_KWARG, None)]
    if kwargs and IDEMPOTENCY_KWARG in kwargs:
        kwargs = dict(kwargs)
        given.append(kwargs.pop(IDEMPOTENCY_KWARG))
    keys = {str(key) for key in given if key is not None}
    if not keys:
        return kwargs
    headers = dict(options.get("headers") or {})
    if IDEMPOTENCY_HEADER in headers:
        keys.add(str(headers[IDEMPOTENCY_HEADER]))
    if len(keys) > 1:
        raise ValueError(
            f"Two different idempotency keys for one message ({', '.join(sorted(keys))}): "
            "give idempotency_key= once."
        )
    headers[IDEMPOTENCY_HEADER] = keys.pop()
    options["headers"] = headers
    return kwargs


def _reject_objects(value: Any, path: str = "argument") -> None:
    """Tasks take ids: a model instance would be stale (or not yet committed) by the time
    the worker reads it, and it would carry one tenant's data through the broker."""
    if isinstance(value, Model | QuerySet):
        raise TypeError(
            f"Task {path} is a {type(value).__name__}: pass its id (e.g. obj.pk) and load it "
            "in the task."
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_objects(item, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _reject_objects(item, f"{path}[{index}]")


# ----------------------------------------------------------------------------- the app


class AtriumCelery(CeleryApp):
    """tenant-schemas-celery's app, with the schema header taken from our tenant context."""

    task_cls = "atrium.platform.tasks:ScopedTask"

    def create_task_cls(self):
        return self.subclass_with_self(
            self.task_cls, abstract=True, name="ScopedTask", attribute="_app"
        )

    def send_task(self, name, args=None, kwargs=None, **options):
        # Only the option moves: an ``idempotency_key`` keyword sent by name reaches the
        # worker as a keyword, where ``AtriumTask.__call__`` takes it (a task of no base of
        # ours keeps its own keyword).
        _move_idempotency_key(None, options)
        options["headers"] = headers_with_scope(options.get("headers"))
        return super().send_task(name, args=args, kwargs=kwargs, **options)


class ScopedTask(SchemaHeaderTask):
    """Every task of the app (Celery's own included): runs in the scope its header names.

    Subclasses choose the scope with ``task_scope``; tasks of no base of ours run in the
    sender's tenant when it exists, else in the public scope.
    """

    abstract = True

    def task_scope(self, schema_name: str | None) -> AbstractContextManager:
        if not schema_name or schema_name == settings.PUBLIC_SCHEMA_NAME:
            return public_scope()
        return tenant_scope(_tenant_for_schema(schema_name))

    def apply(self, args=None, kwargs=None, *arg, **options):
        options["headers"] = headers_with_scope(options.get("headers"))
        return super().apply(args, kwargs, *arg, **options)

    def apply_async_on_commit(self, args=None, kwargs=None, **options) -> None:
        """``apply_async`` after the commit, for the scope active *now* (Celery's own would
        send for whatever scope is active when the transaction commits)."""
        send = functools.partial(self.apply_async, args, kwargs, **options)
        try:
            active_scope()
        except NoTenantError:
            transaction.on_commit(send)  # no scope: the message says public
        else:
            on_commit(send)

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        self.apply_async_on_commit(args, kwargs)


def _tenant_for_schema(schema_name: str):
    """The tenant a message was sent for, from the routing directory (no SQL once warm,
    and a suspension or deletion is seen on the next task, as on the next request)."""
    from atrium.tenants.routing import directory

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


# The worker side of the door. tenant-schemas-celery connects its own schema switch at
# import time; ours replaces it (same signals, so the same place in Celery's tracer).
task_prerun.disconnect(sender=None, dispatch_uid="tenant_schemas_switch_schema")
task_postrun.disconnect(sender=None, dispatch_uid="tenant_schemas_restore_schema")

_SCOPE_STACK = "atrium_scope_stack"
_SCOPE_ERROR = "atrium_scope_error"


@task_prerun.connect(dispatch_uid="atrium_enter_task_scope")
def _enter_task_scope(sender=None, task=None, **_: Any) -> None:
    """Enter the task's scope before its body; ``_leave_task_scope`` closes it.

    Celery logs and swallows exceptions of signal handlers, so a failure here is kept on
    the request and raised by the task itself (``AtriumTask.__call__``), which retries it
    when transient. Until then the task stands in the public scope, never in a tenant's.
    """
    task = task or sender
    request = task.request
    _recycle_connections(request)
    stack = ExitStack()
    schema_name = _header(request, SCHEMA_HEADER)
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
        if not isinstance(task, AtriumTask):
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


# ----------------------------------------------------------------------------- idempotency

_CLAIM_LUA = """
local value = redis.call('GET', KEYS[1])
if not value or value == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_FREE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_DONE = "done"


@dataclass(slots=True)
class _Claim:
    key: str
    owner: str

    def done(self, ttl: int) -> None:
        get_redis_connection("default").set(self.key, _DONE, ex=ttl)

    def free(self) -> None:
        script, client = registered_script(_FREE_LUA)
        script(keys=[self.key], args=[self.owner], client=client)


def _claim(task_name: str, key: str, owner: str, lease: int) -> _Claim | None:
    """Claim ``key`` for ``owner`` (a task id); None when it is done or held by another."""
    full_key = scoped_key(IDEMPOTENCY_PURPOSE, task_name, key)
    script, client = registered_script(_CLAIM_LUA)
    if script(keys=[full_key], args=[owner, lease * 1000], client=client):
        return _Claim(full_key, owner)
    return None


# ----------------------------------------------------------------------------- the bases


class AtriumTask(ScopedTask):
    """What our tenant and platform tasks share: the guard around every run."""

    abstract = True

    # Declared per task (``@tenant_task(idempotent=True)``): safe to run again after a
    # crash, so the message is acknowledged only after the run and re-queued when the
    # worker process dies (acks_late + reject_on_worker_lost).
    idempotent = False
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2  # seconds before the first retry, doubling each time
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 5
    idempotency_lease = 3600  # seconds; longer than any run (see the module docstring)
    idempotency_ttl = 86400  # seconds a finished key turns duplicates away

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.idempotent:
            cls.acks_late = True
            cls.reject_on_worker_lost = True

    # -- sending

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, **options):
        kwargs = _move_idempotency_key(kwargs, options)
        _reject_objects(list(args or ()), "argument")
        _reject_objects(dict(kwargs or {}), "keyword argument")
        return super().apply_async(args, kwargs, task_id, producer, **options)

    def apply(self, args=None, kwargs=None, *arg, **options):
        kwargs = _move_idempotency_key(kwargs, options)
        return super().apply(args, kwargs, *arg, **options)

    def signature_from_request(self, request=None, args=None, kwargs=None, queue=None, **extra):
        """The retry message: keeps the idempotency key and the schema, which the Redis
        transport merged into the request instead of its ``headers``."""
        request = self.request if request is None else request
        signature = super().signature_from_request(request, args, kwargs, queue, **extra)
        headers = dict(signature.options.get("headers") or {})
        for name in (SCHEMA_HEADER, IDEMPOTENCY_HEADER):
            value = _header(request, name)
            if value is not None:
                headers.setdefault(name, value)
        signature.options["headers"] = headers
        return signature

    # -- running

    def check_scope(self, scope: Scope) -> None:
        """Raise when the task may not run in ``scope``."""

    def check_queued_run(self, scope: Scope, args: tuple, kwargs: dict) -> None:
        """Raise when a message (with these arguments) may not run in ``scope`` now: a
        ``TaskRefused`` to refuse it for good. A direct call skips this."""
        self.check_scope(scope)

    def on_final_failure(self, exc: Exception, args: tuple, kwargs: dict) -> None:
        """Called when a run fails for good (not before a retry): its body raised, its
        retries ran out, or it was refused. Runs inside the run's scope — the task's tenant,
        or the public scope when it had none — in eager mode too (unlike Celery's
        ``on_failure``, which eager propagation skips)."""

    def direct_scope(self) -> AbstractContextManager:
        """The scope of a plain function call (``task(...)``): the caller's."""
        return nullcontext()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        # Present only when sent by name (app.send_task), which bypasses apply_async.
        key_kwarg = kwargs.pop(IDEMPOTENCY_KWARG, None)
        if request.called_directly:
            with self.direct_scope():
                self.check_scope(active_scope())
                return super().__call__(*args, **kwargs)
        return self._run_guarded(request, args, kwargs, key_kwarg)

    def _run_guarded(self, request, args: tuple, kwargs: dict, key_kwarg: Any) -> Any:
        started = time.perf_counter()
        outcome, retry_in, claim = "failure", None, None
        schema = _header(request, SCHEMA_HEADER) or settings.PUBLIC_SCHEMA_NAME
        try:
            scope_error = getattr(request, _SCOPE_ERROR, None)
            try:
                if scope_error is not None:
                    raise scope_error
                scope = active_scope()
                schema = scope.schema_name
                self.check_queued_run(scope, args, kwargs)
                key = _header(request, IDEMPOTENCY_HEADER) or key_kwarg or request.id
                claim = _claim(self.name, str(key), request.id, self.idempotency_lease)
            except TenantRequired:
                outcome = "refused"
                raise
            except TaskRefused:
                outcome = "inactive"
                raise
            except self.autoretry_for as exc:
                raise self._retry_transient(exc) from exc
            if claim is None:
                outcome = "duplicate"
                return None
            result = self.run(*args, **kwargs)
            outcome = "success"
            try:
                claim.done(self.idempotency_ttl)
            except redis.exceptions.RedisError:
                # The effect happened: failing (and retrying) now would repeat it. The lease
                # still turns duplicates away until it expires.
                logger.error("task %s: could not mark %s done", self.name, claim.key, exc_info=True)
            return result
        except Retry as exc:
            outcome, retry_in = "retry", exc.when
            raise
        except (Ignore, Reject):
            outcome = "ignored"
            raise
        except Exception as exc:
            try:
                self.on_final_failure(exc, args, kwargs)
            except Exception:
                logger.exception("task %s: on_final_failure failed", self.name)
            raise
        finally:
            if claim is not None and outcome != "success":
                try:
                    claim.free()
                except redis.exceptions.RedisError:  # the lease expires on its own
                    logger.warning("task %s: could not free %s", self.name, claim.key)
            self._log_run(request, schema, outcome, started, retry_in)

    def _retry_transient(self, exc: BaseException) -> Retry:
        """Retry a failure of the guard itself (Redis, the tenant lookup) like the body's."""
        countdown = get_exponential_backoff_interval(
            factor=int(max(1.0, float(self.retry_backoff))),
            retries=self.request.retries,
            maximum=self.retry_backoff_max,
            full_jitter=self.retry_jitter,
        )
        return self.retry(exc=exc, countdown=countdown, throw=False)

    def _log_run(
        self, request, schema: str, outcome: str, started: float, retry_in: object
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {
            "tenant": schema,
            "task": self.name,
            "task_id": request.id,
            "duration_ms": duration_ms,
            "retries": request.retries or 0,
            "outcome": outcome,
        }
        if isinstance(retry_in, int | float):
            fields["retry_in"] = retry_in
        level = {
            "success": logging.INFO,
            "duplicate": logging.INFO,
            "retry": logging.WARNING,
            "ignored": logging.WARNING,
            "inactive": logging.WARNING,
        }.get(outcome, logging.ERROR)
        logger.log(
            level,
            "task %s %s: tenant=%s id=%s duration_ms=%s retries=%s",
            self.name,
            outcome,
            schema,
            request.id,
            duration_ms,
            fields["retries"],
            extra=fields,
        )


class TenantTask(AtriumTask):
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
        from atrium.tenants.models import TenantStatus

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


def _tenant_status(tenant) -> str | None:
    """The tenant's status in the database (None: the row is gone)."""
    from atrium.tenants.models import Tenant

    with public_scope():
        return Tenant.objects.filter(pk=tenant.pk).values_list("status", flat=True).first()


class PlatformTask(AtriumTask):
    """A platform task: always runs in the public scope, whichever scope sent it."""

    abstract = True

    def task_scope(self, schema_name: str | None) -> AbstractContextManager:
        return public_scope()

    def direct_scope(self) -> AbstractContextManager:
        return public_scope()

    def check_scope(self, scope: Scope) -> None:
        if not scope.is_public:
            raise RuntimeError(f"The platform task {self.name!r} ran outside the public scope.")


def tenant_task(*, name: str, idempotent: bool = False, **options: Any) -> Callable:
    """Declare a tenant task: ``@tenant_task(name="catalog.purge_deleted", idempotent=True)``.

    The name is the task's stable identity (beat entries and messages refer to it).
    ``idempotent=True`` also turns on acks_late + reject_on_worker_lost.
    """
    return shared_task(base=TenantTask, name=name, idempotent=idempotent, **options)


def platform_task(*, name: str, idempotent: bool = False, **options: Any) -> Callable:
    """Declare a platform task (public scope): ``@platform_task(name="tenants.pool_refill")``."""
    return shared_task(base=PlatformTask, name=name, idempotent=idempotent, **options)


# ----------------------------------------------------------------------------- sending


def send_on_commit(task, /, *args: Any, **kwargs: Any) -> None:
    """Send ``task(*args, **kwargs)`` once the current transaction commits (now, outside one).

    The message carries the scope active *now*, even if the commit happens after it ended.
    Arguments must be ids and plain values (checked now, not at commit).
    """
    _reject_objects(list(args), "argument")
    _reject_objects(kwargs, "keyword argument")
    task.apply_async_on_commit(args, kwargs)


# ----------------------------------------------------------------------------- fan-out


def active_tenants() -> list:
    """The tenants periodic work is for: active ones (not provisioning, suspended, archived)."""
    from atrium.tenants.models import Tenant, TenantStatus

    with public_scope():
        return list(
            Tenant.objects.filter(status=TenantStatus.ACTIVE)
            .exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
            .order_by("schema_name")
        )


@platform_task(name="platform.run_for_active_tenants", idempotent=True, bind=True)
def run_for_active_tenants(self, task_name: str, *args: Any, **kwargs: Any) -> list[str]:
    """Send the tenant task ``task_name`` once for every active tenant (beat's entry point).

    Each message is sent inside its tenant's scope, so its header names that tenant. Each
    carries this run's id as idempotency key: if this fan-out is retried or redelivered, a
    tenant already served is not served twice. Returns the schemas it sent to.
    """
    task = self.app.tasks.get(task_name)
    if not isinstance(task, TenantTask):
        raise ValueError(
            f"{task_name!r} is not a registered tenant task (declare it with @tenant_task); "
            "check the name in its app's AppConfig.tenant_periodic_tasks."
        )
    sent: list[str] = []
    for tenant in active_tenants():
        with tenant_scope(tenant):
            task.apply_async(args, {**kwargs, IDEMPOTENCY_KWARG: f"fanout:{self.request.id}"})
        sent.append(tenant.schema_name)
    return sent


__all__ = [
    "IDEMPOTENCY_KWARG",
    "SCHEMA_HEADER",
    "TRANSIENT_ERRORS",
    "AtriumCelery",
    "AtriumTask",
    "PlatformTask",
    "ScopedTask",
    "TaskRefused",
    "TenantInactive",
    "TenantRequired",
    "TenantTask",
    "active_tenants",
    "headers_with_scope",
    "platform_task",
    "run_for_active_tenants",
    "send_on_commit",
    "tenant_task",
]
