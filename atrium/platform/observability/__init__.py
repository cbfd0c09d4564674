"""Observability: logs with the tenant and request of every line, request ids that reach
tasks, Prometheus metrics on the platform host, OpenTelemetry traces and Sentry reports.

``context`` (the log context), ``logs`` (filter and formats), ``middleware`` (HTTP),
``sockets`` (WebSocket), ``celery`` (tasks), ``metrics`` (/metrics), ``tracing``
(OpenTelemetry, Sentry). The README's "Operating Atrium" says how an operator uses them.
"""
