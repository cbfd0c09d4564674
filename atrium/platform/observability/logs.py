"""Log records with the request's context: the filter that adds it, and the two formats.

``ContextFilter`` (on the handler, so it sees the records of every logger) gives each record
``tenant``, ``tenant_id``, ``request_id``, ``user_id`` and ``api_key_id`` from the bound
``LogContext`` and the tenant scope; a field the caller passed in ``extra`` wins (a task's
run line names its own tenant). ``JsonFormatter`` writes one JSON object per line
(production); ``TextFormatter`` one readable line (development, tests).

Imported by ``LOGGING`` when Django configures logging, before the apps are loaded: it
imports nothing that touches models.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from . import context

# Copied from the context onto every record (None when there is none).
CONTEXT_FIELDS = ("tenant", "tenant_id", "request_id", "user_id", "api_key_id")
# The access log's own fields (atrium.access), set by the middleware on its records.
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        bound = context.current()
        if bound is None:
            # django.request writes its line after the middleware has returned: the
            # request it passes along still knows its context.
            bound = getattr(getattr(record, "request", None), "log_context", None)
        tenant, tenant_id = context.current_tenant_fields()
        if tenant is None and bound is not None:
            tenant, tenant_id = bound.tenant, bound.tenant_id
        values = {
            "tenant": tenant,
            "tenant_id": tenant_id,
            "request_id": bound.request_id if bound else None,
            "user_id": bound.current_user_id() if bound else None,
            "api_key_id": bound.api_key_id if bound else None,
        }
        for name, value in values.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if bound is not None:
            for name in ("method", "path"):
                if not hasattr(record, name):
                    setattr(record, name, getattr(bound, name))
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per record: time, level, logger, message, the context, any extra."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in CONTEXT_FIELDS:
            log_data.setdefault(name, getattr(record, name, None))


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [tenant request_id] message`` for people reading a terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "fmt", "%(asctime)s %(levelname)s %(name)s [%(tenant)s %(request_id)s] %(message)s"
        )
        super().__init__(*args, **kwargs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        values = dict(record.__dict__)
        for name in ("tenant", "request_id"):
            if values.get(name) is None:
                values[name] = "-"
        return self._style._fmt % values
