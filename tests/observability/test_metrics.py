"""Prometheus metrics: /metrics on the platform host only, who may read it, what it counts
(requests by route and status, SQL per request, throttling, tasks, sockets, the spare pool),
and the sum over processes in multiprocess mode."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from atrium.platform.accounts.models import User
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.pool import spare_schemas
from tests.fixtures import REPO_ROOT, cli_env

ME = "/api/v1/users/me/"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: Client | None = None, **headers: str) -> dict[tuple, float]:
    response = (client or Client(HTTP_HOST="localhost")).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def as_owner(tenant) -> APIClient:
    with tenant_scope(tenant):
        user = User.objects.get(email=f"owner@{tenant.slug}.test")
    client = APIClient(HTTP_HOST=f"{tenant.slug}.localhost")
    client.force_authenticate(user)
    return client


# ----------------------------------------------------------------------------- the endpoint


@pytest.mark.django_db
def test_metrics_answer_on_the_platform_host_from_loopback(tenant_a):
    as_owner(tenant_a).get(ME)
    samples = scrape()
    key = (
        "atrium_http_requests_total",
        (("method", "GET"), ("route", "api/v1/users/me/"), ("status", "200")),
    )
    assert samples[key] >= 1


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["alpha.localhost", "beta.localhost"])
def test_tenant_hosts_answer_404_in_the_one_error_shape(tenant_a, tenant_b, host):
    response = Client(HTTP_HOST=host).get("/metrics")
    assert response.status_code == 404
    assert response.json()["type"] == "client_error"
    assert response.json()["errors"][0]["code"] == "not_found"


@pytest.mark.django_db
def test_addresses_outside_the_allow_list_are_refused(settings):
    client = Client(HTTP_HOST="localhost")
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    settings.ATRIUM_METRICS_ALLOW = ["203.0.113.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_a_request_through_an_untrusted_proxy_is_refused_even_from_loopback(settings):
    client = Client(HTTP_HOST="localhost")
    # A proxy on the same machine: REMOTE_ADDR is loopback, the client is elsewhere.
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert client.get("/metrics", **forwarded).status_code == 403
    settings.ATRIUM_TRUSTED_PROXY_COUNT = 1  # now the forwarded address is the client's
    assert client.get("/metrics", **forwarded).status_code == 403
    settings.ATRIUM_METRICS_ALLOW = ["198.51.100.7"]
    assert client.get("/metrics", **forwarded).status_code == 200


@pytest.mark.django_db
def test_with_a_token_only_the_bearer_of_it_reads_metrics(settings):
    settings.ATRIUM_METRICS_TOKEN = "s3cret-token"
    client = Client(HTTP_HOST="localhost")
    missing = client.get("/metrics")  # loopback no longer suffices
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["errors"][0]["code"] == "not_authenticated"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token").status_code == 401
    scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token", REMOTE_ADDR="203.0.113.9")


# ----------------------------------------------------------------------------- what is counted


@pytest.mark.django_db
def test_requests_are_counted_by_route_pattern_not_by_path(tenant_a):
    labels = {"method": "GET", "route": "api/v1/users/<pk>/", "status": "404"}
    before = sample("atrium_http_requests_total", **labels)
    client = as_owner(tenant_a)
    for pk in ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"):
        assert client.get(f"/api/v1/users/{pk}/").status_code == 404
    assert sample("atrium_http_requests_total", **labels) == before + 2
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    unrouted = {"method": "GET", "route": "<unrouted>", "status": "404"}
    before_unmatched = sample("atrium_http_requests_total", **unmatched)
    before_unrouted = sample("atrium_http_requests_total", **unrouted)
    client.get("/no/such/thing/1/")
    client.get("/no/such/thing/2/")
    Client(HTTP_HOST="nobody.localhost").get("/")
    assert sample("atrium_http_requests_total", **unmatched) == before_unmatched + 2
    assert sample("atrium_http_requests_total", **unrouted) == before_unrouted + 1
    # A made-up method does not make a label of its own.
    before_other = sample(
        "atrium_http_requests_total", method="other", route="healthz", status="405"
    )
    Client(HTTP_HOST="alpha.localhost").generic("BREW", "/healthz")
    assert (
        sample("atrium_http_requests_total", method="other", route="healthz", status="405")
        == before_other + 1
    )


@pytest.mark.django_db
def test_latency_and_sql_statements_per_request(tenant_a):
    route = {"route": "api/v1/users/me/"}
    count = sample("atrium_http_request_duration_seconds_count", method="GET", **route)
    sql_count = sample("atrium_http_db_queries_count", **route)
    sql_sum = sample("atrium_http_db_queries_sum", **route)
    client = as_owner(tenant_a)
    with CaptureQueriesContext(connection) as captured:
        client.get(ME)
    assert len(captured.captured_queries) >= 1
    assert sample("atrium_http_request_duration_seconds_count", method="GET", **route) == count + 1
    assert sample("atrium_http_db_queries_count", **route) == sql_count + 1
    assert sample("atrium_http_db_queries_sum", **route) == sql_sum + len(captured.captured_queries)


@pytest.mark.django_db
def test_throttled_requests_are_counted(tenant_a, settings):
    settings.ATRIUM_RATE_LIMITS = {
        plan: {"burst": "1/10s", "sustained": "100/h"} for plan in settings.ATRIUM_PLANS
    }
    before = sample("atrium_throttled_requests_total", route="api/v1/users/me/")
    client = as_owner(tenant_a)
    statuses = [client.get(ME).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert sample("atrium_throttled_requests_total", route="api/v1/users/me/") == before + 2


@pytest.mark.django_db
def test_task_runs_and_failures_are_counted(tenant_a):
    from tests.tasks.worker_tasks import record_context

    runs = {"task": "tests.record_context"}
    success = sample("atrium_task_runs_total", outcome="success", **runs)
    refused = sample("atrium_task_runs_total", outcome="refused", **runs)
    durations = sample("atrium_task_duration_seconds_count", **runs)
    with tenant_scope(tenant_a):
        record_context.delay("m-metrics")
    with public_scope(), pytest.raises(Exception, match="needs a tenant"):
        record_context.delay("m-metrics-public")
    assert sample("atrium_task_runs_total", outcome="success", **runs) == success + 1
    assert sample("atrium_task_runs_total", outcome="refused", **runs) == refused + 1
    assert sample("atrium_task_duration_seconds_count", **runs) == durations + 2


@pytest.mark.django_db
def test_the_spare_pool_size_is_read_when_scraped(tenant_a, settings):
    settings.ATRIUM_SPARE_POOL_SIZE = 7
    with public_scope():
        spares = len(spare_schemas())
    samples = scrape()
    assert samples[("atrium_spare_pool_size", ())] == spares
    assert samples[("atrium_spare_pool_target", ())] == 7


def test_no_metric_has_a_tenant_label():
    """Label sets stay bounded at 10,000 tenants: per-tenant figures come from metering."""
    for family in REGISTRY.collect():
        if family.name.startswith("atrium_"):
            for s in family.samples:
                assert not {"tenant", "tenant_id", "schema", "host"} & set(s.labels), s


# ----------------------------------------------------------------------------- processes

MULTIPROCESS_WRITER = """
import django; django.setup()
from atrium.platform.observability import metrics
metrics.observe_request(method="GET", route="healthz", status=200, seconds=0.01, queries=2)
metrics.SOCKETS_OPEN.inc()
import os; print(os.getpid())
"""
MULTIPROCESS_READER = """
import django; django.setup()
from atrium.platform.observability import metrics
print(metrics.exposition().decode())
"""


def test_multiprocess_mode_sums_every_worker_process(tmp_path):
    """Two worker processes count; a third (the one answering /metrics) sees the sum."""
    env = {**cli_env(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    pids = [int(run(MULTIPROCESS_WRITER)), int(run(MULTIPROCESS_WRITER))]

    def read() -> dict[tuple, float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(run(MULTIPROCESS_READER))
            for s in family.samples
        }

    samples = read()
    labels = (("method", "GET"), ("route", "healthz"), ("status", "200"))
    assert samples[("atrium_http_requests_total", labels)] == 2
    assert samples[("atrium_http_db_queries_sum", (("route", "healthz"),))] == 4
    # Sockets are a live sum: they count until the server marks their process dead
    # (gunicorn's child_exit hook); counters keep what dead processes counted.
    assert samples[("atrium_websockets_open", ())] == 2
    run(
        "from atrium.platform.observability.metrics import mark_process_dead; "
        + "; ".join(f"mark_process_dead({pid})" for pid in pids)
    )
    samples = read()
    assert samples.get(("atrium_websockets_open", ()), 0) == 0
    assert samples[("atrium_http_requests_total", labels)] == 2
    # A new server start forgets the last run's counters.
    run(
        "from atrium.platform.observability.metrics import clear_multiprocess_dir; clear_multiprocess_dir()"
    )
    assert ("atrium_http_requests_total", labels) not in read()
