"""What every app's ``openapi.py`` writes the same way: the tag and the per-action schemas of
a viewset, request and error examples, and the schema of a write action."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view

from atrium.errors import error_body


def document(viewset: type, tag: str, **actions: Any) -> type:
    """Tags every operation of ``viewset`` with ``tag`` and documents its actions
    (``extend_schema_view``: ``list=extend_schema(…)``, …)."""
    return extend_schema_view(**actions)(extend_schema(tags=[tag])(viewset))


def action_schema(
    summary: str, request: Any, response: Any, *, status: int = 200, **schema: Any
) -> Any:
    """The schema of an action that takes ``request`` and answers ``status`` with
    ``response`` (summary first, as the reader looks for it)."""
    return extend_schema(summary=summary, request=request, responses={status: response}, **schema)


def request_example(name: str, value: Any) -> OpenApiExample:
    """An example request body."""
    return OpenApiExample(name, value=value, request_only=True)


def response_example(name: str, value: Any) -> OpenApiExample:
    """An example answer, shown on every status the operation documents."""
    return OpenApiExample(name, value=value, response_only=True)


def error_example(name: str, status: int, code: str, detail: str) -> OpenApiExample:
    """An example error answer of ``status``, in the one error shape."""
    return OpenApiExample(
        name,
        value=error_body(status, code, detail),
        status_codes=[str(status)],
        response_only=True,
    )
