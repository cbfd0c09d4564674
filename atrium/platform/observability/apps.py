"""App config for observability: task hooks, and tracing and Sentry when configured."""

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "atrium.platform.observability"
    label = "observability"

    def ready(self) -> None:
        from . import celery, tracing  # noqa: F401 (celery: connects the task signals)

        tracing.configure_tracing()  # off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
        tracing.configure_sentry()  # off unless SENTRY_DSN is set
