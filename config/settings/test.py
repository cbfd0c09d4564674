"""Tests: real PostgreSQL and Redis, on Redis databases of their own."""

import os

from .base import *  # noqa: F403
from .base import (
    BASE_DIR,
    CACHES,
    CHANNEL_LAYERS,
    DATABASES,
    INSTALLED_APPS,
    TEMPLATES,
    TENANT_APPS,
    env,
    env_bool,
)

REDIS_URL = env("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ["REDIS_URL"] = REDIS_URL  # subprocesses started by the tests share it
CACHES["default"]["LOCATION"] = REDIS_URL
CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL  # chords of the real-worker tests join here
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# The real channel layer, on a Redis database of its own; the run's pid in the prefix keeps
# parallel runs (each with its own alpha and beta) out of each other's groups, and
# subprocesses started by the tests (workers, CLI) inherit the run's prefix.
CHANNEL_REDIS_URL = env("TEST_CHANNEL_REDIS_URL", "redis://127.0.0.1:6379/15")
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
    {**CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], "address": CHANNEL_REDIS_URL}
]
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ.setdefault(
    "TEST_CHANNEL_PREFIX", f"p:asgi-test{os.getpid()}"
)

# Fast hashing keeps the suite quick; production keeps PBKDF2 first.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "atrium.platform.accounts.hashers.GeneratedSecretHasher",
]
ATRIUM_SPARE_POOL_SIZE = 2
# A tenant app made by following the README's "new tenant app" checklist: registering it
# here is all it takes to have its tables in every tenant schema and its API mounted.
TENANT_APPS = [*TENANT_APPS, "tests.apps.notes"]
INSTALLED_APPS = [*INSTALLED_APPS, "tests.apps.notes"]
# An error answer with a code the schema does not list fails the test that caused it.
ATRIUM_ERROR_CODES_STRICT = env_bool("ATRIUM_ERROR_CODES_STRICT", True)
# Sign-up on the platform host is on in tests, as in development.
ATRIUM_SIGNUP_ENABLED = env_bool("ATRIUM_SIGNUP_ENABLED", True)
# A published event whose payload does not match its declared schema fails the test.
ATRIUM_EVENTS_VALIDATE = env_bool("ATRIUM_EVENTS_VALIDATE", True)

# A database of its own per test run, so parallel runs on one machine never collide.
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", f"test_atrium_{os.getpid()}")}
# Mail templates that only the tests send (tests/templates/mail/tests/).
TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], BASE_DIR / "tests" / "templates"]}]
