"""Health endpoints: ``/healthz`` (the process answers) and ``/readyz`` (its services do)."""

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django_redis import get_redis_connection

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_postgres() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    get_redis_connection("default").ping()


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in (("postgres", _check_postgres), ("redis", _check_redis)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason goes to the log
            logger.warning("readyz: %s unavailable: %s", name, exc)
            checks[name] = "unavailable"
    ready = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
