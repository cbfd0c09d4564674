"""Webhook events (imported by WebhooksConfig.ready()): an endpoint disabled after its
streak of failures, and the test event an admin sends to one endpoint."""

from atrium.platform.events import declare

_ENDPOINT = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "description": "The endpoint's URL."},
        "reason": {"type": "string", "description": "Why it was disabled."},
    },
    "additionalProperties": False,
}

WEBHOOK_DISABLED = declare(
    "webhook.disabled",
    schema={**_ENDPOINT, "required": ["url", "reason"]},
    description="A webhook endpoint was disabled after ATRIUM_WEBHOOK_DISABLE_AFTER_FAILURES "
    "consecutive failed attempts (the event's `id` is the endpoint's). PATCH "
    "`enabled: true` enables it again.",
)
WEBHOOK_TEST = declare(
    "webhook.test",
    schema={
        "type": "object",
        "properties": {"url": _ENDPOINT["properties"]["url"]},
        "required": ["url"],
        "additionalProperties": False,
    },
    description="Sent to one endpoint by `POST /api/v1/webhooks/{id}/test/` (the event's `id` "
    "is the endpoint's), whatever it subscribes to.",
)
