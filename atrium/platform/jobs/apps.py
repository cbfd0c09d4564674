"""App config for jobs."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "atrium.platform.jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    # Run on a restored tenant by `tenants import` (atrium/tenants/archive.py).
    tenant_import_resets = (
        # The files moved from the source's storage folder to the new tenant's.
        *(
            f"UPDATE jobs_job SET {column} = %(new_root)s || "
            f"substr({column}, length(%(old_root)s) + 1) "
            f"WHERE starts_with({column}, %(old_root)s || '/')"
            for column in ("input_path", "output_path")
        ),
        # A job queued or running at the export has no task left to finish it.
        "UPDATE jobs_job SET status = 'failed', finished_at = now(), error = "
        """'{"code": "interrupted", "message": "The tenant was exported while this job ran."}'"""
        "::jsonb WHERE status IN ('queued', 'running')",
    )

    def ready(self) -> None:
        from . import events  # noqa: F401  (declares job.succeeded and job.failed)
