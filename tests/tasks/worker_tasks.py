"""Test-only tasks, registered in the test process and in the real worker (``-I``).

Each task records what it saw (scope, tenant, search_path, the users it can read) in Redis,
under a key it builds with ``scoped_key`` — so where the key lands is itself the proof of
which key space the task ran in.
"""

from __future__ import annotations

import json
import os
import signal
import time

from django.db import connection
from django_redis import get_redis_connection

from atrium.platform.accounts.models import User
from atrium.platform.observability.context import current_request_id
from atrium.platform.tasks import platform_task, tenant_task
from atrium.tenants.context import active_scope, current_tenant_or_none
from atrium.tenants.keyspace import public_key, scoped_key

# One counter for every run of the test tasks, so runs of different tenants can be put in
# the order they happened (a platform key: it belongs to no tenant).
SEQUENCE_KEY = public_key("test", "sequence")


def redis():
    return get_redis_connection("default")


def observe() -> dict:
    scope = active_scope()
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        search_path = cursor.fetchone()[0]
    tenant = current_tenant_or_none()
    return {
        "schema": scope.schema_name,
        "tenant": tenant.slug if tenant else None,
        "search_path": search_path,
        "users": sorted(User.objects.values_list("email", flat=True)) if tenant else None,
        "pid": os.getpid(),
        "request_id": current_request_id(),
        "seq": redis().incr(SEQUENCE_KEY),
    }


@tenant_task(name="tests.record_context")
def record_context(marker: str, pause: float = 0, row: bool = False) -> dict:
    """Records what it saw under ``marker``; with ``row``, also writes a category named
    ``marker`` into the schema it runs in. ``pause``: seconds to take first."""
    time.sleep(pause)
    seen = observe()
    if row:
        from atrium.apps.catalog.services import category_create

        category_create(name=marker)
    redis().set(scoped_key("test", marker), json.dumps(seen), ex=600)
    return seen


@tenant_task(name="tests.spawn")
def spawn(marker: str) -> None:
    """Sends another task from inside a task: the child must inherit the tenant."""
    record_context.delay(marker)


@tenant_task(name="tests.flaky", bind=True, retry_backoff=1, max_retries=3)
def flaky(self, marker: str, failures: int) -> int:
    """Fails with a transient error ``failures`` times, then succeeds."""
    attempt = {"retries": self.request.retries, **observe()}
    count = redis().rpush(scoped_key("test", marker, "attempts"), json.dumps(attempt))
    if count <= failures:
        raise ConnectionError(f"transient failure {count} of {failures}")
    return count


@tenant_task(name="tests.count_effect", idempotent=True)
def count_effect(marker: str) -> int:
    """One effect per run: a counter in the tenant's key space."""
    return redis().incr(scoped_key("test", marker, "effects"))


@tenant_task(name="tests.die_once", idempotent=True)
def die_once(marker: str) -> int:
    """Kills its worker process on the first delivery (real workers only)."""
    if redis().incr(scoped_key("test", marker, "attempts")) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return redis().incr(scoped_key("test", marker, "effects"))


@platform_task(name="tests.record_platform")
def record_platform(marker: str) -> dict:
    seen = observe()
    redis().set(scoped_key("test", marker), json.dumps(seen), ex=600)
    return seen


# ----------------------------------------------------------------------------- reading side


def keys_for(marker: str) -> set[str]:
    """Every key, in any key space, that tasks wrote for ``marker``."""
    return {key.decode() for key in redis().scan_iter(match=f"*:test:{marker}*", count=1000)}


def seen(key: str) -> dict | None:
    raw = redis().get(key)
    return json.loads(raw) if raw is not None else None


def attempts(key: str) -> list[dict]:
    return [json.loads(item) for item in redis().lrange(key, 0, -1)]
