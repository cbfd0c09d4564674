"""The audit log's export job (``POST /api/v1/audit-events/exports/``)."""

from atrium.platform.jobs.models import Job
from atrium.platform.jobs.tasks import job_task

from . import exports


@job_task(name="audit.export_events")
def export_events(job_id: str) -> None:
    job = Job.objects.get(pk=job_id)
    if not job.is_finished:
        exports.export_run(job=job)
