"""App config for jobs."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "atrium.platform.jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"
