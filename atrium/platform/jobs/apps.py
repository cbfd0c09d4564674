"""App config for jobs."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "atrium.platform.jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import events  # noqa: F401  (declares job.succeeded and job.failed)
