"""Suite-wide fixtures: one test database with the template, a spare pool and two tenants.

A plugin, not a conftest: the root ``conftest.py`` registers it, so that the suites in
``tests/`` and the apps' own tests (``atrium/apps/<app>/tests/``) share one session.

Creating schemas is the slow part of a schema-per-tenant suite, so ``tenant_a`` and
``tenant_b`` are created once per session (committed) and shared. Tests that need
committed state of their own (CLI subprocesses, provisioning) use ``live_db`` and clean
up after themselves through the real purge path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from atrium.tenants import pool, provisioning, services, template
from atrium.tenants.context import public_scope
from atrium.tenants.directory import invalidate_directory
from atrium.tenants.models import Tenant

REPO_ROOT = Path(__file__).resolve().parent.parent
TENANT_A = {"slug": "alpha", "name": "Alpha Ltd", "owner_email": "owner@alpha.test"}
TENANT_B = {"slug": "beta", "name": "Beta GmbH", "owner_email": "owner@beta.test"}
OWNER_PASSWORD = "Correct-Horse-Battery-42"


@pytest.fixture(scope="session")
def django_db_setup(
    django_test_environment, django_db_modify_db_settings, django_db_keepdb, django_db_blocker
):
    """The test database, always created: tests on committed state (``live_db``) carry no
    ``django_db`` mark, and pytest-django would otherwise leave them on the dev database."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        db_config = setup_databases(
            verbosity=0, interactive=False, keepdb=django_db_keepdb, aliases={"default"}
        )
        assert connection.settings_dict["NAME"].startswith("test_"), "not on a test database"
        # The run's own Redis DBs start empty: a task queued and never run, or a group, by
        # an earlier run on this machine must not reach this one.
        get_redis_connection("default").flushdb()
        for url in {settings.CELERY_BROKER_URL, settings.CHANNEL_REDIS_URL}:
            with redis.Redis.from_url(url) as client:
                client.flushdb()
        template.template_ensure()
        pool.pool_fill(settings.ATRIUM_SPARE_POOL_SIZE)
        for spec in (TENANT_A, TENANT_B):
            provisioning.tenant_create(**spec, owner_password=OWNER_PASSWORD)
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            # After a statement failed, the pool replaces the connection in the background;
            # the replacement would still be connected to the test database it drops.
            connection.close_pool()
            teardown_databases(db_config, verbosity=0)


@pytest.fixture(scope="session")
def tenant_a(django_db_setup, django_db_blocker) -> Tenant:
    with django_db_blocker.unblock(), public_scope():
        return Tenant.objects.get(slug=TENANT_A["slug"])


@pytest.fixture(scope="session")
def tenant_b(django_db_setup, django_db_blocker) -> Tenant:
    with django_db_blocker.unblock(), public_scope():
        return Tenant.objects.get(slug=TENANT_B["slug"])


@pytest.fixture(autouse=True)
def _fresh_redis_state() -> Iterator[None]:
    """A test's rolled-back rows must not survive in the routing caches, and its requests
    must not spend the next test's rate limits (the real limits stay on)."""
    delete_keys("*:ratelimit:*")  # a test starts with no bucket, whatever ran before it
    yield
    invalidate_directory()
    # Rolled-back rows must not live on in cached responses (or cached users) either.
    delete_keys("*:ratelimit:*", "*:cache:*", "*:auth:*")


def delete_keys(*patterns: str) -> None:
    client = get_redis_connection("default")
    stale = [key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)]
    if stale:
        client.delete(*stale)


@pytest.fixture
def live_db(django_db_setup, django_db_blocker) -> Iterator[list[str]]:
    """Committed database access; slugs appended to the yielded list are purged after."""
    created: list[str] = []
    with django_db_blocker.unblock():
        yield created
        with public_scope():
            for slug in created:
                if Tenant.objects.filter(slug=slug).exists():
                    services.tenant_purge(slug=slug)
        pool.pool_fill(settings.ATRIUM_SPARE_POOL_SIZE)


# ----------------------------------------------------------------------------- API users

ALPHA_HOST = "alpha.localhost"


def client_for(user, host: str = ALPHA_HOST):
    """An API client authenticated as ``user`` (no token: ``force_authenticate``) on
    ``host``, tenant alpha's by default."""
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST=host)
    client.force_authenticate(user)
    return client


@pytest.fixture
def alpha_users(tenant_a) -> dict:
    """Users of tenant alpha by role: its ``owner``, a new ``admin`` and ``member``
    (``<role>@alpha.test``), and a second member, ``other_member``."""
    from atrium.platform.accounts.models import Role, User
    from atrium.tenants.context import tenant_scope

    with tenant_scope(tenant_a):
        users = {"owner": User.objects.get(email=TENANT_A["owner_email"])}
        for role in (Role.ADMIN, Role.MEMBER):
            user = User(email=f"{role}@alpha.test")
            user.apply_role(role)
            user.save()
            users[role] = user
        other = User(email="other-member@alpha.test")
        other.save()
        users["other_member"] = other
    return users


# ----------------------------------------------------------------------------- file storage

STORAGE_BACKENDS = ("filesystem", "s3")


@dataclass(frozen=True)
class FileStore:
    """Where a test's files go (``kind``: filesystem or s3), the environment that sends a
    child process's files there too, and what is stored, listed without Django."""

    kind: str
    env: dict[str, str]
    _listing: Callable[[], list[str]]

    def files(self) -> list[str]:
        """Every stored file's name (``<schema>/exports/<job>.csv``), sorted."""
        return self._listing()


@pytest.fixture(scope="session")
def s3_server() -> Iterator:
    """One S3-compatible server (moto's server mode, a real process) for the session."""
    from tests import driver

    with driver.S3Server() as server:
        yield server


@pytest.fixture(params=STORAGE_BACKENDS)
def file_storage(request, settings, tmp_path) -> Iterator[FileStore]:
    """The files of jobs on each backend that ``ATRIUM_STORAGE`` selects, configured from
    the same variables as in production: a ``MEDIA_ROOT`` of the test's own, then a bucket
    of its own on a real S3-compatible server (as MinIO serves docker-compose.yml)."""
    from config.settings.storage import default_storage_from

    if request.param == "filesystem":
        root = tmp_path / "media"
        root.mkdir()
        env = {"ATRIUM_STORAGE": "filesystem", "MEDIA_ROOT": str(root)}
        settings.MEDIA_ROOT = str(root)

        def listing() -> list[str]:
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

        def remove() -> None:
            pass

    else:
        server = request.getfixturevalue("s3_server")
        bucket = server.create_bucket()
        env = server.env(bucket)

        def listing() -> list[str]:
            return server.keys(bucket)

        def remove() -> None:
            server.drop_bucket(bucket)

    settings.STORAGES = {**settings.STORAGES, "default": default_storage_from(env)}
    yield FileStore(request.param, env, listing)
    remove()


def schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def cli_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        TEST_REDIS_URL=settings.REDIS_URL,
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``manage.py <args>`` as an operator would, against the test database (or what
    ``env`` overrides, e.g. a private cluster's ``DATABASE_URL``)."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        cwd=REPO_ROOT,
        env={**cli_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator:
    """One real SMTP server (aiosmtpd, ``scripts/mail_sink.py``) for the session. Django's
    SMTP backend in this process and every subprocess started later (Celery workers, the
    CLI, live servers) send to it: the subprocesses through ``EMAIL_URL``."""
    from scripts.mail_sink import MailSink

    sink = MailSink().start()
    previous = os.environ.get("EMAIL_URL")
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{sink.port}/?timeout=5"
    try:
        yield sink
    finally:
        sink.stop()
        if previous is None:
            os.environ.pop("EMAIL_URL", None)
        else:
            os.environ["EMAIL_URL"] = previous


@pytest.fixture
def smtp_sink(_smtp_server, settings):
    """The session's SMTP server, emptied for this test: ``smtp_sink.wait_for(to=…)``
    returns the received ``EmailMessage``; ``smtp_sink.messages`` lists them all."""
    from config.settings.mail import mailer_from_url

    settings.MAILERS = {"default": mailer_from_url(os.environ["EMAIL_URL"])}
    _smtp_server.clear()
    return _smtp_server
