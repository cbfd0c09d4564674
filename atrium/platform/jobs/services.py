"""Job services: create, report progress, finish. The creator's sockets get ``job.progress``
(transport only, not an event of the catalogue); the outcome is published as the event
``job.succeeded`` or ``job.failed`` (``events.py``) after commit."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection
from kombu.exceptions import OperationalError as BrokerUnreachable

from atrium.platform.accounts.models import User
from atrium.platform.errors import QueueUnavailable
from atrium.platform.events import publish
from atrium.platform.realtime.events import publish_to_user
from atrium.tenants.celery import send_on_commit
from atrium.tenants.keyspace import scoped_key

from . import storage
from .models import Job, JobStatus

logger = logging.getLogger(__name__)

PROGRESS_TTL = 7 * 24 * 3600


def _progress_key(job_id) -> str:
    return scoped_key("job", job_id, "progress")


def job_create(
    *, kind: str, created_by: User, input_path: str = "", result: dict[str, Any] | None = None
) -> Job:
    return Job.objects.create(
        kind=kind, created_by=created_by, input_path=input_path, result=result or {}
    )


def job_submit(
    *,
    kind: str,
    created_by: User,
    task,
    input_path: str = "",
    result: dict[str, Any] | None = None,
) -> Job:
    """Create a job and send ``task(job id)`` (a ``@job_task``) once it is committed.

    ``result`` is what the job starts with: its parameters (whose data, which filters),
    which the task reads and replaces with its own result when it finishes.

    When the broker cannot take the message, the job would wait as queued forever: it is
    deleted with its input and ``QueueUnavailable`` (503) is raised, so the request did
    nothing and can simply be sent again.
    """
    from .tasks import JobTask  # the task module imports these services

    if not isinstance(task, JobTask):
        raise TypeError(
            f"{getattr(task, 'name', task)!r} is not a job task: declare it with "
            "atrium.platform.jobs.tasks.job_task, so a job it cannot finish is marked failed."
        )
    job = job_create(kind=kind, created_by=created_by, input_path=input_path, result=result)

    def not_sent(exc: Exception) -> None:
        if not isinstance(exc, BrokerUnreachable):
            raise exc
        logger.warning("jobs: %s not queued, the broker is unreachable: %s", job.pk, exc)
        Job.objects.filter(pk=job.pk).delete()
        if input_path:
            storage.delete(input_path)
        raise QueueUnavailable(
            "Background work cannot be started right now. Please try again in a few " "seconds."
        ) from exc

    send_on_commit(task, [str(job.pk)], on_error=not_sent)
    return job


def job_progress_get(job: Job) -> int:
    if job.status == JobStatus.SUCCEEDED:
        return 100
    try:
        raw = get_redis_connection("default").get(_progress_key(job.pk))
    except Exception:  # progress is a hint; the job's status stays authoritative
        logger.warning("jobs: progress of %s unavailable", job.pk)
        return 0
    return int(raw or 0)


def job_start(*, job: Job) -> Job:
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    job.refresh_from_db()
    job_progress(job=job, percent=0)
    return job


def job_progress(*, job: Job, percent: int) -> None:
    """Record progress (0-100) and push it to the job's creator; cheap enough per batch."""
    percent = max(0, min(100, int(percent)))
    try:
        get_redis_connection("default").set(_progress_key(job.pk), percent, ex=PROGRESS_TTL)
    except Exception:
        logger.warning("jobs: could not record progress of %s", job.pk)
    publish_to_user(
        job.created_by_id,
        "job.progress",
        id=str(job.pk),
        data={"kind": job.kind, "progress": percent},
    )


@transaction.atomic
def job_finish(
    *,
    job: Job,
    result: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    output_path: str = "",
) -> Job:
    job.status = JobStatus.FAILED if error else JobStatus.SUCCEEDED
    job.result = result or {}
    job.error = error or {}
    job.output_path = output_path
    job.finished_at = timezone.now()
    job.save(
        update_fields=["status", "result", "error", "output_path", "finished_at", "updated_at"]
    )
    if not error:
        job_progress(job=job, percent=100)
    outcome = {"error": job.error} if error else {"result": job.result}
    publish(
        f"job.{job.status}",
        id=str(job.pk),
        data={"kind": job.kind, "status": job.status, **outcome},
        user_id=job.created_by_id,
    )
    return job


def job_fail(*, job_id: object, code: str, message: str) -> Job | None:
    """Mark a job that has not finished as failed with ``code`` and drop its input file:
    its task failed for good (an error, retries exhausted) or was refused (its tenant is
    not active). A finished job is left as it is. None when the job does not exist."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return job
        # Dropped before the failure commits: whoever sees the job failed sees nothing held.
        if job.input_path:
            storage.delete(job.input_path)
        return job_finish(job=job, error={"code": code, "message": message})
