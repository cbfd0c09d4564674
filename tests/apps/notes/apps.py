"""App config for the notes app: its label, and where its API is mounted."""

from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "tests.apps.notes"
    label = "notes"
    default_auto_field = "django.db.models.BigAutoField"
    # Mounted at /api/v1/notes/ by config/urls_tenant.py (atrium.platform.api.urls).
    api_prefix = "notes/"
