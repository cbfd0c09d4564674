"""Job tasks: the background half of a job, whose job never stays queued or running.

A job task takes the job's id as its first argument (``job_submit`` sends it so). When it
fails for good — its body raised, its retries ran out, or it was refused because its
tenant is not active (``TenantInactive``) — its job is marked failed with a stable code
(``tenant_inactive``, else ``job_failed``) and its input file is dropped, so the job's
creator sees why and can ask again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task

from atrium.platform.tasks import TenantInactive, TenantTask
from atrium.tenants.context import current_tenant_or_none

from . import services

logger = logging.getLogger("atrium.jobs")

FAILED_CODE = "job_failed"


def _failure(exc: BaseException) -> tuple[str, str]:
    """The code and message a job shows for the exception that ended its task."""
    if isinstance(exc, TenantInactive):
        return exc.code, (
            f"The job did not run: the tenant was {exc.status or 'not active'} when it was "
            "due. Start it again once the tenant is active."
        )
    # Anything else is a fault of ours: its details are in the worker's log, not the API.
    return FAILED_CODE, (
        "The job failed unexpectedly. Start it again; if it fails again, contact support."
    )


class JobTask(TenantTask):
    """A tenant task that runs one job: ``task(job_id)``."""

    abstract = True

    def on_final_failure(self, exc: Exception, args: tuple, kwargs: dict) -> None:
        # A task whose tenant is gone (refused in the public scope) has no job left to mark.
        job_id = args[0] if args else kwargs.get("job_id")
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


__all__ = ["FAILED_CODE", "JobTask", "job_task"]
