"""Job events: a job's outcome, for the user who started it (imported by JobsConfig.ready())."""

from atrium.platform.events import declare

_KIND = {"type": "string", "description": "What the job does, e.g. `catalog.export`."}

declare(
    "job.succeeded",
    schema={
        "type": "object",
        "properties": {
            "kind": _KIND,
            "status": {"const": "succeeded"},
            "result": {"type": "object", "description": "What the job reports, by kind."},
        },
        "required": ["kind", "status", "result"],
        "additionalProperties": False,
    },
    description="A background job finished its work. On the WebSocket, only for its creator.",
    audience="user",
)
declare(
    "job.failed",
    schema={
        "type": "object",
        "properties": {
            "kind": _KIND,
            "status": {"const": "failed"},
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
                "description": "A stable code, what to do, and details by kind (`rows`).",
            },
        },
        "required": ["kind", "status", "error"],
        "additionalProperties": False,
    },
    description="A background job failed, with nothing half-done. On the WebSocket, only for "
    "its creator.",
    audience="user",
)
