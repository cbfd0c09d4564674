"""Settings of the processes ``tests/driver.py`` starts that talk to a real Celery worker
(the worker itself, and servers that send it tasks): the test settings without eager mode
(the worker sends chain steps and retries through the broker), on the queue of the
worker's own, with a result backend so chords can join."""

import os

from config.settings.test import *  # noqa: F403
from config.settings.test import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["ATRIUM_TEST_CELERY_QUEUE"]
CELERY_RESULT_BACKEND = os.environ["ATRIUM_TEST_CELERY_RESULT_BACKEND"]
# Webhook drains go to the worker's own queue too (the default worker consumes the
# "webhooks" queue through CELERY_TASK_QUEUES).
ATRIUM_WEBHOOK_QUEUE = CELERY_TASK_DEFAULT_QUEUE
CELERY_RESULT_EXPIRES = 600
# A worker sweeps unacknowledged messages back into the queue every 10 x 10 s by default
# (kombu's unacked_restore_interval x unacked_restore_throttle): every second here, so a
# test that shortens the visibility timeout (CELERY_VISIBILITY_TIMEOUT) sees the message
# of a killed worker redelivered within seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
# Beat started by a test (driver.Beat) runs one entry of the test's own instead of the real
# schedule: ATRIUM_TEST_BEAT_FAN_OUT="<tenant task name> <argument>" is fanned out to every
# active tenant every second, exactly as the apps' periodic tenant tasks are (none of which
# it runs: ATRIUM_TENANT_PERIODIC_TASKS replaces what the apps declare).
if os.environ.get("ATRIUM_TEST_BEAT_FAN_OUT"):
    _task, _argument = os.environ["ATRIUM_TEST_BEAT_FAN_OUT"].split()
    ATRIUM_TENANT_PERIODIC_TASKS: dict = {}
    CELERY_BEAT_SCHEDULE = {
        f"{_task} for every active tenant": {
            "task": "platform.run_for_active_tenants",
            "schedule": 1.0,
            "args": (_task, _argument),
        }
    }
