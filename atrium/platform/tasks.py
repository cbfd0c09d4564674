"""Celery base tasks of the platform: retries, idempotency, one log line per run.

The door into the tenant (the schema header, the worker entering the sender's scope, the
refusal of tenantless and inactive-tenant work) is ``atrium.tenants.celery``; the classes
here extend its bases with the guard around every run.

The bases.
- ``TenantTask`` (``@tenant_task``): tenant business work. Refuses to run without a tenant
  (``TenantRequired``: the sender had none, or its tenant no longer exists), so it never
  runs in the public schema, and refuses a queued message of a tenant that is not active
  (``TenantInactive``, see "Inactive tenants" below).
- ``PlatformTask`` (``@platform_task``): platform work (the spare pool, the per-tenant
  fan-out). Always runs in the public scope, whoever sent it.
Both retry transient failures with exponential backoff and jitter, record an idempotency
key so a duplicate or redelivered message has one effect (``atrium.platform.idempotency``),
write one structured log line per run, and refuse model instances as arguments: tasks take
ids. ``send_on_commit`` (``atrium.tenants.celery``) is the one way to send after a commit.

Inactive tenants. Work queued for a tenant that is suspended or archived by the time a
worker takes it fails (``TenantInactive``, logged with outcome ``inactive``) rather than
waiting for a reactivation: a deferred message would have to be kept past the broker and
re-sent, and an import or export run days later would act on what was asked for long
before. The refusal comes before the idempotency key is claimed and before the body takes
any lock, so nothing is left held; a job task (``atrium.platform.jobs.tasks``) marks its job
failed with the code ``tenant_inactive``, so no job stays queued, and the tenant's users can
ask again once it is active. The same path serves every other refusal (``TaskRefused``,
raised by a base's ``check_queued_run``): a job task also refuses a job whose user has been
deactivated since (``user_inactive``). Beat's fan-out sends to active tenants only. How long
a worker may still trust a tenant's status is in ``atrium.tenants.celery``.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis.exceptions
from celery import shared_task
from celery.exceptions import Ignore, Reject, Retry
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Model, QuerySet

from atrium.platform import idempotency
from atrium.platform.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_KWARG
from atrium.platform.observability import metrics
from atrium.platform.redis import LockHeld
from atrium.tenants.celery import (
    SCHEMA_HEADER,
    PublicScopedTask,
    ScopedCelery,
    ScopedTask,
    TaskRefused,
    TenantRequired,
    TenantScopedTask,
    request_header,
    scope_error,
)
from atrium.tenants.context import active_scope, public_scope, tenant_scope

logger = logging.getLogger("atrium.tasks")

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


class AtriumCelery(ScopedCelery):
    """The app: the tenants door's, plus the idempotency key moved into a header."""

    def send_task(self, name, args=None, kwargs=None, **options):
        # Only the option moves: an ``idempotency_key`` keyword sent by name reaches the
        # worker as a keyword, where ``AtriumTask.__call__`` takes it (a task of no base of
        # ours keeps its own keyword).
        idempotency.move_idempotency_key(None, options)
        return super().send_task(name, args=args, kwargs=kwargs, **options)


# ----------------------------------------------------------------------------- the bases


class AtriumTask(ScopedTask):
    """What our tenant and platform tasks share: the guard around every run."""

    abstract = True
    raises_scope_error = True  # ``_run_guarded`` raises it (and retries it when transient)

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
        kwargs = idempotency.move_idempotency_key(kwargs, options)
        self.check_arguments(args or (), kwargs or {})
        return super().apply_async(args, kwargs, task_id, producer, **options)

    def apply(self, args=None, kwargs=None, *arg, **options):
        kwargs = idempotency.move_idempotency_key(kwargs, options)
        return super().apply(args, kwargs, *arg, **options)

    def check_arguments(self, args: Sequence, kwargs: Mapping) -> None:
        _reject_objects(list(args), "argument")
        _reject_objects(dict(kwargs), "keyword argument")

    def signature_from_request(self, request=None, args=None, kwargs=None, queue=None, **extra):
        """The retry message: keeps the idempotency key and the schema, which the Redis
        transport merged into the request instead of its ``headers``."""
        request = self.request if request is None else request
        signature = super().signature_from_request(request, args, kwargs, queue, **extra)
        headers = dict(signature.options.get("headers") or {})
        for name in (SCHEMA_HEADER, IDEMPOTENCY_HEADER):
            value = request_header(request, name)
            if value is not None:
                headers.setdefault(name, value)
        signature.options["headers"] = headers
        return signature

    # -- running

    def on_final_failure(self, exc: Exception, args: tuple, kwargs: dict) -> None:
        """Called when a run fails for good (not before a retry): its body raised, its
        retries ran out, or it was refused. Runs inside the run's scope — the task's tenant,
        or the public scope when it had none — in eager mode too (unlike Celery's
        ``on_failure``, which eager propagation skips)."""

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
        schema = request_header(request, SCHEMA_HEADER) or settings.PUBLIC_SCHEMA_NAME
        try:
            entry_error = scope_error(request)
            try:
                if entry_error is not None:
                    raise entry_error
                scope = active_scope()
                schema = scope.schema_name
                self.check_queued_run(scope, args, kwargs)
                key = request_header(request, IDEMPOTENCY_HEADER) or key_kwarg or request.id
                claim = idempotency.claim(self.name, str(key), request.id, self.idempotency_lease)
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
        seconds = time.perf_counter() - started
        metrics.observe_task(task=self.name, outcome=outcome, seconds=seconds)
        duration_ms = round(seconds * 1000, 1)
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


class TenantTask(TenantScopedTask, AtriumTask):
    """A task of one tenant: runs in the sender's tenant scope, refuses to run without one
    (and a queued message of a tenant that is not active: ``TenantScopedTask``)."""

    abstract = True


class PlatformTask(PublicScopedTask, AtriumTask):
    """A platform task: always runs in the public scope, whichever scope sent it."""

    abstract = True


def tenant_task(*, name: str, idempotent: bool = False, **options: Any) -> Callable:
    """Declare a tenant task: ``@tenant_task(name="catalog.purge_deleted", idempotent=True)``.

    The name is the task's stable identity (beat entries and messages refer to it).
    ``idempotent=True`` also turns on acks_late + reject_on_worker_lost.
    """
    return shared_task(base=TenantTask, name=name, idempotent=idempotent, **options)


def platform_task(*, name: str, idempotent: bool = False, **options: Any) -> Callable:
    """Declare a platform task (public scope): ``@platform_task(name="tenants.pool_refill")``."""
    return shared_task(base=PlatformTask, name=name, idempotent=idempotent, **options)


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


@platform_task(name="tenants.pool_refill", idempotent=True, ignore_result=True)
def pool_refill() -> int:
    """Top the spare-schema pool up to ATRIUM_SPARE_POOL_SIZE after a claim (and on beat).

    Provisioning (below this layer) sends it by name. Safe to run twice at once: filling
    takes a PostgreSQL advisory lock and stops at the target, so a redelivered or
    overlapping run only finds the pool full.
    """
    from atrium.tenants.pool import pool_fill

    return pool_fill()


@platform_task(name="tenants.usage_flush", idempotent=True, ignore_result=True)
def usage_flush() -> int:
    """Write today's metered usage of every active tenant to the public TenantUsage table
    (on beat; safe to repeat: the day's counters are absolute). Just after midnight (UTC)
    yesterday's is written once more too, so its last minutes are not lost."""
    import datetime as dt

    from atrium.tenants import usage

    now = dt.datetime.now(dt.UTC)
    written = usage.usage_flush(day=now.date())
    if now.hour == 0:
        usage.usage_flush(day=now.date() - dt.timedelta(days=1))
    return written


__all__ = [
    "TRANSIENT_ERRORS",
    "AtriumCelery",
    "AtriumTask",
    "PlatformTask",
    "TenantTask",
    "active_tenants",
    "platform_task",
    "pool_refill",
    "run_for_active_tenants",
    "tenant_task",
    "usage_flush",
]
