"""The audit log API's OpenAPI documentation, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import extend_schema

from atrium.platform.api.openapi import action_schema, document, response_example
from atrium.platform.audit.actions import ACTIONS
from atrium.platform.jobs.serializers import JobSerializer

from .serializers import AuditExportSerializer, AuditFilterSerializer

ENTRY_EXAMPLE = response_example(
    "A product renamed",
    {
        "id": "5b0e8f0e-7c1d-4c6e-9a55-0d8a1c2b3e4f",
        "at": "2026-12-07T10:00:00.123456Z",
        "actor_type": "user",
        "actor_id": "0b7c3c8e-57a8-4a3f-a1de-3d1b9e2f6a10",
        "actor_label": "dana@acme.test",
        "action": "product.updated",
        "target_type": "catalog.product",
        "target_id": "6f1f0b36-5d43-4c52-9d7b-2bd1f4f1b0a1",
        "target_label": "Rocket skates",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "request_id": "8c4f2d0a9b7e4e1f8a3c5d6e7f809a1b",
        "changes": {"name": ["Skates", "Rocket skates"]},
        "metadata": {},
    },
)

VOCABULARY = "\n".join(f"- `{name}`: {meaning}" for name, meaning in ACTIONS.items())


def audit_event_viewset(viewset):
    return document(
        viewset,
        "audit",
        list=extend_schema(
            summary="The audit log, newest first (owners and admins)",
            description="Who did what in this tenant: one entry per write, recorded in the "
            "write's own transaction. Cursor-paginated, newest first: follow `next` (a page "
            "never repeats or skips an entry, whatever is recorded meanwhile). Every write "
            "method answers 405: the log is append-only, which the database enforces.\n\n"
            "Actions (the `action` filter's values):\n\n" + VOCABULARY,
            parameters=[AuditFilterSerializer],
            examples=[ENTRY_EXAMPLE],
        ),
        retrieve=extend_schema(summary="One audit entry", examples=[ENTRY_EXAMPLE]),
        export=action_schema(
            "Export the audit log (a job)",
            AuditExportSerializer,
            JobSerializer,
            status=202,
            description="202 with the job; when it succeeds, `download_url` serves the entries "
            "the filters select (the list's: the same names, values and errors; the whole log "
            "without any), newest first, as NDJSON (`application/x-ndjson`) or CSV (`text/csv`; a cell "
            "a spreadsheet would run as a formula gets a leading `'`). The export and every "
            "download are themselves recorded (`audit.exported`, with the filters, and "
            "`export.downloaded`). The job's `result` carries the filters it applied.",
        ),
    )
