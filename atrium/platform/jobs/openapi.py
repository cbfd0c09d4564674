"""The jobs API's OpenAPI documentation, so that ``views.py`` holds only what runs."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema

from atrium.platform.api.openapi import document, response_example

JOB_EXAMPLE = response_example(
    "Export running",
    {
        "id": "3e9c7a1e-6a55-4d1f-9a64-1e54b7f0a9c2",
        "kind": "catalog.export",
        "status": "running",
        "progress": 40,
        "result": {},
        "error": {},
        "download_url": None,
        "created_at": "2026-11-24T10:00:00Z",
        "started_at": "2026-11-24T10:00:01Z",
        "finished_at": None,
    },
)


# Bytes first: generated clients read a text/* answer as text (and crash on a file).
DOWNLOAD_MEDIA_TYPES = ("application/octet-stream", "text/csv")


def job_viewset(viewset):
    return document(
        viewset,
        "jobs",
        retrieve=extend_schema(
            summary="Follow a job",
            description="Status, progress (0-100), result (counts, or a download URL) and "
            "error. Progress is also pushed over the WebSocket as `job.progress`, and the "
            "outcome as the event `job.succeeded` or `job.failed` (see /api/asyncapi/).",
            examples=[JOB_EXAMPLE],
        ),
        download=extend_schema(
            summary="Download a job's file (CSV, or NDJSON for an audit export)",
            description="The file as bytes: `text/csv` (UTF-8), or `application/octet-stream` "
            "when the request's Accept header names that type and not `text/csv`; an NDJSON "
            "export (`audit.export.ndjson`) is `application/x-ndjson`. Every download is "
            "recorded in the audit log (`export.downloaded`).",
            responses={
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
                for media_type in DOWNLOAD_MEDIA_TYPES
            },
        ),
    )
