"""The Celery app: the sender's tenant travels with every task (see atrium.platform.tasks)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# Imported after DJANGO_SETTINGS_MODULE is set: the task bases read settings at run time.
from atrium.platform.tasks import AtriumCelery

app = AtriumCelery("atrium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
