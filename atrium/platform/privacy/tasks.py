"""The person-data export job (run by a worker in the tenant)."""

from atrium.platform.jobs.models import Job
from atrium.platform.jobs.tasks import job_task

from . import services


@job_task(name="privacy.export_person_data")
def export_person_data(job_id: str) -> None:
    job = Job.objects.get(pk=job_id)
    if not job.is_finished:
        services.user_data_export_run(job=job)
