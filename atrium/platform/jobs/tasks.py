"""Job tasks: the background half of a job, whose job never stays queued or running.

A job task takes the job's id as its first argument (``job_submit`` sends it so). It acts
in the name of the user who asked for the job, so before its body runs it is refused
(``RequesterInactive``, code ``user_inactive``) when that user has been deactivated or
removed since: a deactivated user's queued import must not write with their rights, nor
their queued export hand them a fresh copy of the tenant's data. It is checked on the
database when a worker takes the message (like the tenant's status, ``TenantInactive``); a
run already under way finishes.

When a job task fails for good — its body raised, its retries ran out, or it was refused
(``TaskRefused``: its tenant or its user is not active) — its job is marked failed with a
stable code (``tenant_inactive``, ``user_inactive``, else ``job_failed``) and its input
file is dropped, so the job's creator sees why and can ask again. A refusal comes before
the body, so no lock or idempotency key is taken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db.models import Exists, OuterRef

from atrium.platform.accounts.models import User
from atrium.platform.tasks import TenantTask
from atrium.tenants.celery import TaskRefused, TenantInactive
from atrium.tenants.context import Scope, current_tenant_or_none

from . import services
from .models import Job

logger = logging.getLogger("atrium.jobs")

FAILED_CODE = "job_failed"


class RequesterInactive(TaskRefused):
    """The user who asked for the job is deactivated or no longer exists: it does not run."""

    code = "user_inactive"


def _failure(exc: BaseException) -> tuple[str, str]:
    """The code and message a job shows for the exception that ended its task."""
    if isinstance(exc, TenantInactive):
        return exc.code, (
            f"The job did not run: the tenant was {exc.status or 'not active'} when it was "
            "due. Start it again once the tenant is active."
        )
    if isinstance(exc, RequesterInactive):
        return exc.code, (
            "The job did not run: the account that asked for it was deactivated (or removed) "
            "before it was due. An active user may start it again."
        )
    if isinstance(exc, TaskRefused):
        return exc.code, f"The job did not run: {exc.message}"
    # Anything else is a fault of ours: its details are in the worker's log, not the API.
    return FAILED_CODE, (
        "The job failed unexpectedly. Start it again; if it fails again, contact support."
    )


def _job_id(args: tuple, kwargs: dict) -> object:
    return args[0] if args else kwargs.get("job_id")


def _requester_active(job_id: object) -> bool | None:
    """Whether the job's creator exists and is active; None when there is no such job."""
    active_user = User.objects.filter(pk=OuterRef("created_by_id"), is_active=True)
    return (
        Job.objects.filter(pk=job_id)
        .annotate(requester_active=Exists(active_user))
        .values_list("requester_active", flat=True)
        .first()
    )


class JobTask(TenantTask):
    """A tenant task that runs one job: ``task(job_id)``."""

    abstract = True

    def check_queued_run(self, scope: Scope, args: tuple, kwargs: dict) -> None:
        super().check_queued_run(scope, args, kwargs)
        job_id = _job_id(args, kwargs)
        # No such job: the body finds none and fails, which marks nothing.
        if job_id is not None and _requester_active(job_id) is False:
            raise RequesterInactive(
                f"The job task {self.name!r} did not run: the user who asked for job {job_id} "
                "is deactivated or no longer exists.",
                "user_inactive",
            )

    def on_final_failure(self, exc: Exception, args: tuple, kwargs: dict) -> None:
        # A task whose tenant is gone (refused in the public scope) has no job left to mark.
        job_id = _job_id(args, kwargs)
        if job_id is None or current_tenant_or_none() is None:
            return
        code, message = _failure(exc)
        try:
            services.job_fail(job_id=job_id, code=code, message=message)
        except Exception:  # the database may be what failed: the log keeps the job's id
            logger.exception("jobs: could not mark job %s failed (%s)", job_id, code)


def job_task(*, name: str, idempotent: bool = True, **options: Any) -> Callable:
    """Declare a job task: ``@job_task(name="catalog.export_products")``, a function of the
    job's id. Idempotent by default (a job runs once; a redelivery after a crash resumes)."""
    return shared_task(base=JobTask, name=name, idempotent=idempotent, **options)


__all__ = ["FAILED_CODE", "JobTask", "RequesterInactive", "job_task"]
