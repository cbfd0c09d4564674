"""The tenant URL conf plus two test-only views, served on tenant hosts in the schema tests.

``probe/`` reports what the request's database connection really is: PostgreSQL's own
``SHOW search_path``, ``current_schema()``, the backend pid (to tell a reused connection),
and the users it reads through the ORM; ``?meet=<name>`` makes two requests wait for each
other first, so that a request of each tenant is certain to run at the same time. ``boom/`` fails the ways a request can fail inside
a tenant: a Python exception after queries, a database error that aborts the transaction,
and a savepoint rolled back inside a transaction (which answers 200 with what it sees
after the rollback).
"""

from __future__ import annotations

import threading
import time

from django.db import IntegrityError, connection, transaction
from django.http import JsonResponse
from django.urls import path

from atrium.platform.accounts.models import User
from atrium.tenants.context import active_scope, public_scope
from atrium.tenants.models import Tenant
from config import urls_tenant


def _state() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        search_path = cursor.fetchone()[0]
        cursor.execute("SELECT current_schema(), pg_backend_pid()")
        schema, pid = cursor.fetchone()
    return {"search_path": search_path, "current_schema": schema, "pid": pid}


_meetings: dict[str, threading.Barrier] = {}
_meetings_lock = threading.Lock()


def _meet(name: str) -> bool:
    """Wait for the other request of the pair ``name`` (before any query, so that no
    connection is held while waiting); False if it did not come."""
    with _meetings_lock:
        barrier = _meetings.setdefault(name, threading.Barrier(2, timeout=5))
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        return False
    return True


def probe(request):
    met = _meet(request.GET["meet"]) if "meet" in request.GET else None
    started = time.monotonic()
    before = _state()
    time.sleep(float(request.GET.get("sleep", 0)))  # lets concurrent requests interleave
    emails = sorted(User.objects.values_list("email", flat=True))
    return JsonResponse(
        {
            "tenant": request.tenant.schema_name,
            "scope": active_scope().schema_name,
            "before": before,
            **_state(),
            "emails": emails,
            "met": met,
            "started": started,
            "finished": time.monotonic(),
        }
    )


class Boom(RuntimeError):
    pass


def boom(request):
    kind = request.GET.get("kind", "python")
    owner = User.objects.order_by("email").first()  # a query in the tenant's schema first
    if kind == "python":
        raise Boom(f"boom in {request.tenant.schema_name}")
    if kind == "db":
        with transaction.atomic(), connection.cursor() as cursor:
            User.objects.filter(pk=owner.pk).update(name="never committed")
            cursor.execute("SELECT 1 / 0")  # aborts the transaction: DataError
    if kind == "savepoint":
        with transaction.atomic():
            User.objects.filter(pk=owner.pk).update(name=owner.name)
            try:
                with transaction.atomic():
                    # The platform schema inside the savepoint (the search_path changes
                    # in it), then a failing insert in the tenant's: rolled back to the
                    # savepoint, and PostgreSQL undoes the SETs made inside it.
                    with public_scope():
                        Tenant.objects.count()
                    User.objects.create(email=owner.email)  # duplicate: IntegrityError
            except IntegrityError:
                pass
            state = _state()
            emails = sorted(User.objects.values_list("email", flat=True))
        return JsonResponse({"tenant": request.tenant.schema_name, **state, "emails": emails})
    raise ValueError(f"unknown kind {kind!r}")


urlpatterns = [
    path("probe/", probe),
    path("boom/", boom),
    *urls_tenant.urlpatterns,
]

handler400 = urls_tenant.handler400
handler403 = urls_tenant.handler403
handler404 = urls_tenant.handler404
handler500 = urls_tenant.handler500
