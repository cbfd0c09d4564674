"""Prometheus metrics, and ``/metrics`` on the platform host.

What is measured (every label has a bounded set of values, whatever the number of tenants:
no metric has a tenant label, see "Per tenant" below):

* ``atrium_http_requests_total{method,route,status}`` and
  ``atrium_http_request_duration_seconds{method,route}``: ``route`` is the URL pattern that
  answered (``api/v1/catalog/products/<pk>/``), never the raw path; ``<unmatched>`` for the
  JSON 404 of an unknown URL, ``<unrouted>`` for an answer given before URL resolution (an
  unknown host, a suspended tenant, a malformed request);
* ``atrium_http_db_queries{route}``: SQL statements per request (a histogram);
* ``atrium_throttled_requests_total{route}``: requests refused with 429;
* ``atrium_task_runs_total{task,outcome}`` and ``atrium_task_duration_seconds{task}``: every
  run of a platform or tenant task (``outcome``: success, failure, retry, refused,
  inactive, duplicate, ignored, as in the task's log line);
* ``atrium_websockets_open``: open WebSocket connections;
* ``atrium_spare_pool_size`` and ``atrium_spare_pool_target``: spare schemas ready for
  sign-ups, read from PostgreSQL when scraped.

Processes. Each gunicorn or uvicorn worker keeps its own counters. With
``PROMETHEUS_MULTIPROC_DIR`` set (an empty directory, emptied when the server starts,
before the workers fork; one per machine), prometheus_client writes them to memory-mapped
files there and ``/metrics`` answers the sum over every process of the machine, dead ones
included for counters (the server calls ``mark_process_dead`` when a worker exits).
Without it, ``/metrics`` shows the counters of the process that answers.

Per tenant. A tenant label would make 10,000 tenants times routes times statuses series. Per-tenant
figures come from metering instead (requests, users, products and storage per tenant and
day: ``manage.py tenants usage``), and from the logs, where every line names its tenant.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from atrium.conf import atrium_settings
from atrium.errors import PermissionDenied, error_response

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
QUERY_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 100)

HTTP_REQUESTS = Counter(
    "atrium_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "atrium_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_DB_QUERIES = Histogram(
    "atrium_http_db_queries", "SQL statements per HTTP request.", ["route"], buckets=QUERY_BUCKETS
)
THROTTLED = Counter("atrium_throttled_requests", "Requests refused with 429.", ["route"])
TASK_RUNS = Counter("atrium_task_runs", "Task runs, by outcome.", ["task", "outcome"])
TASK_LATENCY = Histogram(
    "atrium_task_duration_seconds", "Time a task run took.", ["task"], buckets=LATENCY_BUCKETS
)
SOCKETS_OPEN = Gauge(
    "atrium_websockets_open", "Open WebSocket connections.", multiprocess_mode="livesum"
)

UNMATCHED = "<unmatched>"
UNROUTED = "<unrouted>"


# The labelled children of each (method, route, status), looked up once: ``labels()``
# takes a lock and builds a tuple per call, on every request. Bounded as the labels are.
_request_children: dict[tuple[str, str, int], tuple] = {}


def observe_request(*, method: str, route: str, status: int, seconds: float, queries: int) -> None:
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children[key] = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
            HTTP_DB_QUERIES.labels(route),
        )
    requests, latency, db_queries = children
    requests.inc()
    latency.observe(seconds)
    db_queries.observe(queries)
    if status == 429:
        THROTTLED.labels(route).inc()


def observe_task(*, task: str, outcome: str, seconds: float) -> None:
    TASK_RUNS.labels(task, outcome).inc()
    TASK_LATENCY.labels(task).observe(seconds)


def clear_multiprocess_dir() -> None:
    """For the server's start (gunicorn ``on_starting``, before workers fork): forget the
    files of an earlier run. A no-op without ``PROMETHEUS_MULTIPROC_DIR``."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def mark_process_dead(pid: int) -> None:
    """For the server's worker-exit hook (gunicorn ``child_exit``): the live gauges of a
    dead worker stop counting. A no-op without ``PROMETHEUS_MULTIPROC_DIR``."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


# ----------------------------------------------------------------------------- scraping


class SparePoolCollector(Collector):
    """The spare-schema pool, read from PostgreSQL at each scrape (one query)."""

    def describe(self) -> Iterable:
        return []  # registering must not query the database

    def collect(self) -> Iterable:
        from atrium.tenants.context import public_scope
        from atrium.tenants.pool import spare_schemas

        try:
            with public_scope():
                spares = len(spare_schemas())
        except Exception as exc:  # a scrape must still answer the other metrics
            logger.warning("metrics: cannot count the spare schemas: %s", exc)
            return
        yield GaugeMetricFamily(
            "atrium_spare_pool_size", "Spare schemas ready for new tenants.", value=spares
        )
        yield GaugeMetricFamily(
            "atrium_spare_pool_target",
            "Spare schemas the pool is refilled to (ATRIUM_SPARE_POOL_SIZE).",
            value=atrium_settings.SPARE_POOL_SIZE,
        )


def exposition() -> bytes:
    """The metrics in Prometheus' text format: every process's (multiprocess mode) or this
    process's, and the spare pool."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    pool = CollectorRegistry(auto_describe=False)
    pool.register(SparePoolCollector())
    return generate_latest(registry) + generate_latest(pool)


def _address_allowed(request: HttpRequest) -> bool:
    from atrium.platform.api.throttling import client_ip

    if atrium_settings.TRUSTED_PROXY_COUNT <= 0 and request.META.get("HTTP_X_FORWARDED_FOR"):
        # A proxy forwarded this request but is not trusted: REMOTE_ADDR is the proxy's
        # (often loopback), not the client's.
        return False
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    for allowed in atrium_settings.METRICS_ALLOW:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            logger.warning("metrics: ATRIUM_METRICS_ALLOW has %r, which is no address", allowed)
    return False


def _token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode(), token.encode()
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` (platform host only; tenant hosts answer 404)."""
    token = atrium_settings.METRICS_TOKEN
    if token:
        if not _token_matches(request, token):
            response = error_response(
                401,
                "not_authenticated",
                "Send the metrics token: Authorization: Bearer <ATRIUM_METRICS_TOKEN>.",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _address_allowed(request):
        return PermissionDenied(
            "Metrics are answered to the addresses of ATRIUM_METRICS_ALLOW only, or to a "
            "bearer token once ATRIUM_METRICS_TOKEN is set."
        ).to_response()
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
