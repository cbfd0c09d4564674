"""The Celery app: the sender's tenant travels with every task.

The door is ``atrium.tenants.celery``; the task bases are ``atrium.platform.tasks``.
"""

import os
import warnings

from celery.exceptions import SecurityWarning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

# scripts/run.sh sets this when it runs the worker as root and has said why in one line;
# Celery's own warning box would say it again on every start.
if os.environ.get("ATRIUM_CELERY_ROOT_EXPLAINED") == "1":
    warnings.filterwarnings("ignore", category=SecurityWarning, message=".*superuser privileges")

# Imported after DJANGO_SETTINGS_MODULE is set: the task bases read settings at run time.
from atrium.platform.schedule import install as install_schedule
from atrium.platform.tasks import AtriumCelery

app = AtriumCelery("atrium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Platform modules that declare tasks outside a tasks.py of an installed app.
app.autodiscover_tasks(["atrium.platform"], related_name="mail")
app.autodiscover_tasks(["atrium.platform.audit_api"])  # the audit log's export job
# The beat schedule gains each app's periodic tenant work (AppConfig.tenant_periodic_tasks).
install_schedule(app)
