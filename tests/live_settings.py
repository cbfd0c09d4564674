"""Settings of the processes ``tests/driver.py`` starts that talk to a real Celery worker
(the worker itself, and servers that send it tasks): the test settings without eager mode
(the worker sends chain steps and retries through the broker), on the queue of the
worker's own, with a result backend so chords can join."""

import os

from config.settings.test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["ATRIUM_TEST_CELERY_QUEUE"]
CELERY_RESULT_BACKEND = os.environ["ATRIUM_TEST_CELERY_RESULT_BACKEND"]
CELERY_RESULT_EXPIRES = 600
