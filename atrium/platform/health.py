"""Health endpoints: ``/healthz`` (the process answers) and ``/readyz`` (its services do).

They answer on every host, unauthenticated and unthrottled: load balancers probe them.
``/readyz`` gives PostgreSQL its own budget (``ATRIUM_READYZ_DB_TIMEOUT``, 1 s): a request
waits up to ``DB_POOL_TIMEOUT`` for a pooled connection, but a probe that waited that long
would itself time out at the load balancer instead of reporting the database down.
"""

import logging

import psycopg
from django.db import connection
from django_redis import get_redis_connection
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from atrium.conf import atrium_settings

logger = logging.getLogger(__name__)

HealthSerializer = inline_serializer(
    "Health",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "checks": serializers.DictField(child=serializers.CharField(), required=False),
    },
)


class ProbeView(APIView):
    """Probes opt out of authentication and throttling: they carry no credentials."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class HealthView(ProbeView):
    @extend_schema(
        tags=["health"],
        summary="Liveness: the process answers",
        responses={200: HealthSerializer},
        examples=[OpenApiExample("Up", value={"status": "ok"})],
        auth=[],
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def _check_postgres() -> None:
    budget = atrium_settings.READYZ_DB_TIMEOUT
    pool = connection.pool  # this process's psycopg pool; None with DB_POOL=0
    if pool is not None:
        pool.open()  # as Django does on first use (a no-op once open)
        # A connection of the pool, waited for at most the budget (not DB_POOL_TIMEOUT).
        with pool.connection(timeout=budget) as conn:
            conn.execute("SELECT 1")
        return
    # Without a pool, a connection of its own (libpq waits at least 2 s to connect).
    params = {**connection.get_connection_params(), "connect_timeout": max(1, round(budget))}
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute("SELECT 1")


def _check_redis() -> None:
    get_redis_connection("default").ping()


class ReadyView(ProbeView):
    @extend_schema(
        tags=["health"],
        summary="Readiness: PostgreSQL and Redis are reachable",
        description="503 with the failing check marked `unavailable` when either is down.",
        responses={200: HealthSerializer, 503: HealthSerializer},
        examples=[
            OpenApiExample(
                "Ready", value={"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}
            ),
            OpenApiExample(
                "Redis down",
                value={
                    "status": "unavailable",
                    "checks": {"postgres": "ok", "redis": "unavailable"},
                },
                status_codes=["503"],
            ),
        ],
        auth=[],
    )
    def get(self, request: Request) -> Response:
        checks = {}
        for name, check in (("postgres", _check_postgres), ("redis", _check_redis)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; the reason goes to the log
                logger.warning("readyz: %s unavailable: %s", name, exc)
                checks[name] = "unavailable"
        ready = all(state == "ok" for state in checks.values())
        return Response(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status=200 if ready else 503,
        )


healthz = HealthView.as_view()
readyz = ReadyView.as_view()
