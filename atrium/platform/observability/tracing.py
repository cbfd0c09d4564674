"""Traces (OpenTelemetry) and error reports (Sentry), each off until its variable is set.

OpenTelemetry: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, ``configure_tracing`` instruments
Django, psycopg, Celery and Redis and sends spans to that endpoint over OTLP/HTTP. The
exporter is imported only then: production installs ``opentelemetry-exporter-otlp-proto-http``
(not a dependency of the app itself; the endpoint without it is refused when the process
starts). The other ``OTEL_*`` variables (headers, ``OTEL_SERVICE_NAME``, sampling) are read
by the SDK. Every span carries ``atrium.tenant`` (the slug, ``public`` for the platform),
``atrium.tenant_id`` and ``atrium.request_id`` (``TenantSpanProcessor``, when the span
starts; the request's own span gets them from the middleware, as it starts before routing).

Sentry: with ``SENTRY_DSN`` set, ``configure_sentry`` starts the SDK (Django, Celery and
Redis integrations, no user details beyond ids). Every event carries the tags ``tenant``,
``tenant_id`` and ``request_id`` (``tag_event``, called as the event is captured).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from atrium.conf import atrium_settings

from . import context

TENANT_ATTRIBUTE = "atrium.tenant"
TENANT_ID_ATTRIBUTE = "atrium.tenant_id"
REQUEST_ID_ATTRIBUTE = "atrium.request_id"

_provider = None  # the TracerProvider of this process, once tracing is on


def tracing_enabled() -> bool:
    return _provider is not None


def _context_fields() -> dict[str, Any]:
    tenant, tenant_id = context.current_tenant_fields()
    bound = context.current()
    if tenant is None and bound is not None:
        tenant, tenant_id = bound.tenant, bound.tenant_id
    return {
        "tenant": tenant,
        "tenant_id": tenant_id,
        "request_id": bound.request_id if bound is not None else None,
    }


def span_attributes() -> dict[str, Any]:
    fields = _context_fields()
    attributes = {
        TENANT_ATTRIBUTE: fields["tenant"],
        TENANT_ID_ATTRIBUTE: fields["tenant_id"],
        REQUEST_ID_ATTRIBUTE: fields["request_id"],
    }
    return {name: value for name, value in attributes.items() if value is not None}


def annotate_current_span() -> None:
    """Tag the active span (the request's) with the context: called once routing is done."""
    if _provider is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(span_attributes())


def _tenant_span_processor():
    from opentelemetry.sdk.trace import SpanProcessor

    class TenantSpanProcessor(SpanProcessor):
        """Tags every span with the tenant and request it was started for."""

        def on_start(self, span, parent_context=None) -> None:
            span.set_attributes(span_attributes())

    return TenantSpanProcessor()


def configure_tracing(*, exporter=None, set_global: bool = True):
    """Turn tracing on: with ``exporter`` (tests: an in-memory one), or else the OTLP
    exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. Returns the provider, or None
    when tracing stays off. Call once per process, before the first request is served."""
    global _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        if not atrium_settings.OTEL_ENDPOINT:
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ImproperlyConfigured(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OTLP exporter is not installed: "
                "install opentelemetry-exporter-otlp-proto-http, or unset the variable."
            ) from exc
        processor = BatchSpanProcessor(OTLPSpanExporter())  # reads OTEL_EXPORTER_OTLP_*
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "atrium")})
    )
    provider.add_span_processor(_tenant_span_processor())
    provider.add_span_processor(processor)
    if set_global:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
    _instrument(provider)
    _provider = provider
    return provider


def _instrumentors() -> list:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return [DjangoInstrumentor(), PsycopgInstrumentor(), CeleryInstrumentor(), RedisInstrumentor()]


def _instrument(provider) -> None:
    for instrumentor in _instrumentors():
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)


def shutdown_tracing() -> None:
    """Undo ``configure_tracing`` (tests): instrumentation off, spans flushed."""
    global _provider
    if _provider is None:
        return
    for instrumentor in _instrumentors():
        instrumentor.uninstrument()
    _provider.shutdown()
    _provider = None


# ----------------------------------------------------------------------------- Sentry


def tag_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry's ``before_send``: the tenant and request of the event, as tags."""
    tags = event.get("tags")
    if not isinstance(tags, dict):
        tags = event["tags"] = dict(tags or {})
    for name, value in _context_fields().items():
        if value is not None:
            tags.setdefault(name, str(value))
    return event


def configure_sentry(**options: Any) -> bool:
    """Start Sentry when ``SENTRY_DSN`` is set (``options`` reach ``sentry_sdk.init``:
    tests pass a transport). Returns whether it started."""
    dsn = options.pop("dsn", None) or atrium_settings.SENTRY_DSN
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=atrium_settings.SENTRY_ENVIRONMENT,
        # None, not 0: Sentry's own tracing off (OpenTelemetry does the tracing).
        traces_sample_rate=atrium_settings.SENTRY_TRACES_SAMPLE_RATE or None,
        data_collection={"user_info": False},  # ids only: no e-mail addresses, no IPs
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        before_send=tag_event,
        **options,
    )
    return True
