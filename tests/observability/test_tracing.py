"""Traces and error reports carry the tenant: one traced request through to an in-memory
exporter, and Sentry events captured by a test transport."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sentry_sdk
from django.db import connection
from django.test import Client, override_settings
from django.urls import path
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rest_framework.test import APIClient
from sentry_sdk.transport import Transport

from atrium.platform.accounts.models import User
from atrium.platform.observability import tracing
from atrium.platform.observability.context import LogContext, bind
from atrium.tenants.context import tenant_scope

ME = "/api/v1/users/me/"


def boom(request):
    raise RuntimeError("boom in a view")


urlpatterns = [path("boom/", boom)]


# ----------------------------------------------------------------------------- OpenTelemetry


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(exporter=exporter, set_global=False)
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()


def test_tracing_is_off_without_an_endpoint():
    assert not tracing.tracing_enabled()
    assert tracing.configure_tracing() is None  # OTEL_EXPORTER_OTLP_ENDPOINT is not set
    assert not tracing.tracing_enabled()


@override_settings(ATRIUM_OTEL_ENDPOINT="http://127.0.0.1:4318")
def test_an_endpoint_without_the_exporter_installed_says_what_to_install():
    from django.core.exceptions import ImproperlyConfigured

    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        with pytest.raises(ImproperlyConfigured, match="opentelemetry-exporter-otlp-proto-http"):
            tracing.configure_tracing()
    else:  # installed (production's image): tracing starts
        assert tracing.configure_tracing(set_global=False) is not None
        tracing.shutdown_tracing()


@pytest.mark.django_db
def test_a_traced_request_tags_its_spans_with_the_tenant(tenant_a, spans):
    with tenant_scope(tenant_a):
        user = User.objects.get(email="owner@alpha.test")
    client = APIClient(HTTP_HOST="alpha.localhost")  # a new client loads the traced middleware
    client.force_authenticate(user)
    response = client.get(ME, HTTP_X_REQUEST_ID="trace-1")
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    [server] = [span for span in finished if span.kind == SpanKind.SERVER]
    assert server.attributes["atrium.tenant"] == "alpha"
    assert server.attributes["atrium.tenant_id"] == str(tenant_a.pk)
    assert server.attributes["atrium.request_id"] == "trace-1"
    assert server.attributes["http.route"].startswith("api/v1/users/me/")
    redis_spans = [span for span in finished if span.attributes.get("db.system") == "redis"]
    assert redis_spans, [span.name for span in finished]
    # The rate limit's Redis call runs inside the tenant: its span names the tenant.
    assert "alpha" in {span.attributes.get("atrium.tenant") for span in redis_spans}
    for span in redis_spans:
        assert span.context.trace_id == server.context.trace_id
        assert span.attributes["atrium.request_id"] == "trace-1"


@pytest.mark.django_db
def test_database_spans_carry_the_tenant(tenant_a, spans):
    params = connection.get_connection_params()
    with (
        bind(LogContext(request_id="db-1")),
        tenant_scope(tenant_a),
        psycopg.connect(**params, autocommit=True) as conn,
    ):
        conn.execute("SELECT 1")
    db_spans = [
        span
        for span in spans.get_finished_spans()
        if span.attributes.get("db.system") == "postgresql"
    ]
    assert db_spans
    assert all(span.attributes["atrium.tenant"] == "alpha" for span in db_spans)
    assert all(span.attributes["atrium.request_id"] == "db-1" for span in db_spans)


# ----------------------------------------------------------------------------- Sentry


class CapturingTransport(Transport):
    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def sentry_events() -> Iterator[list[dict]]:
    transport = CapturingTransport()
    assert tracing.configure_sentry(dsn="https://public@sentry.invalid/1", transport=transport)
    try:
        yield transport.events
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: off again for the rest of the run


def test_sentry_is_off_without_a_dsn():
    assert tracing.configure_sentry() is False


@pytest.mark.django_db
def test_sentry_events_carry_the_tenant_tag(tenant_a, sentry_events):
    with bind(LogContext(request_id="err-1")), tenant_scope(tenant_a):
        sentry_sdk.capture_message("inside alpha")
    sentry_sdk.capture_message("outside any tenant")
    sentry_sdk.flush()
    inside, outside = sentry_events
    assert inside["tags"]["tenant"] == "alpha"
    assert inside["tags"]["tenant_id"] == str(tenant_a.pk)
    assert inside["tags"]["request_id"] == "err-1"
    assert "tenant" not in outside.get("tags", {})


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__)
def test_an_error_in_a_request_reaches_sentry_with_its_tenant(tenant_a, sentry_events):
    response = Client(HTTP_HOST="alpha.localhost", raise_request_exception=False).get(
        "/boom/", HTTP_X_REQUEST_ID="boom-1"
    )
    assert response.status_code == 500
    assert response["X-Request-ID"] == "boom-1"
    sentry_sdk.flush()
    [event] = [e for e in sentry_events if e.get("exception")]
    assert event["exception"]["values"][-1]["value"] == "boom in a view"
    assert event["tags"]["tenant"] == "alpha"
    assert event["tags"]["request_id"] == "boom-1"
