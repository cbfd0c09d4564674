"""What the API shows of a job."""

from django.urls import reverse
from rest_framework import serializers

from . import services
from .models import Job


class JobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField(help_text="0-100.")
    download_url = serializers.SerializerMethodField(
        help_text="Where a finished export can be downloaded (this tenant only)."
    )
    error = serializers.JSONField(
        read_only=True,
        help_text="Empty unless the job failed. Then `{code, message}` with a stable `code`: "
        "`tenant_inactive` (the tenant was suspended or archived when the job was due, so "
        "it did not run), `user_inactive` (the user who asked for it was deactivated "
        "before it was due, so it did not run), `lock_held` (another import was running), "
        "`job_failed` (an "
        "unexpected error); or `{rows: [{line, field, message}]}` for an import's rows.",
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "result",
            "error",
            "download_url",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job: Job) -> int:
        return services.job_progress_get(job)

    def get_download_url(self, job: Job) -> str | None:
        if job.status != "succeeded" or not job.output_path:
            return None
        return reverse("job-download", kwargs={"pk": job.pk})
