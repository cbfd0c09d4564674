"""The event catalogue as an AsyncAPI 3.0.0 document, built from the declared types.

Two channels: the tenant's WebSocket (``/ws/events/``, where a client receives each event as
``{type, id, data, ts}`` and may send pings) and the webhooks (each event POSTed to the
endpoints that subscribe to it as ``{type, timestamp, data}``, signed as Standard Webhooks
specifies). Every message's payload is the event's declared schema, so what is declared is
what is documented.
"""

from __future__ import annotations

import copy
from typing import Any

from .catalogue import EventType, event_types

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
SOCKET_PATH = "/ws/events/"

_ID = {"type": "string", "description": "The id of the object the event is about."}


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)}


def _with_id(schema: dict[str, Any]) -> dict[str, Any]:
    """The webhook's ``data``: the event's data led by the object's ``id``."""
    schema = copy.deepcopy(schema)
    schema["properties"] = {"id": _ID, **schema.get("properties", {})}
    schema["required"] = ["id", *[name for name in schema.get("required", []) if name != "id"]]
    return schema


def _socket_message(event: EventType) -> dict[str, Any]:
    return {
        "name": event.name,
        "title": event.name,
        "summary": event.description,
        "contentType": "application/json",
        "x-event-version": event.version,
        "x-audience": event.audience,
        "payload": {
            "type": "object",
            "properties": {
                "type": {"const": event.name},
                "id": _ID,
                "data": copy.deepcopy(event.schema),
                "ts": {"type": "string", "format": "date-time"},
            },
            "required": ["type", "id", "data", "ts"],
            "additionalProperties": False,
        },
    }


def _webhook_message(event: EventType) -> dict[str, Any]:
    return {
        "name": event.name,
        "title": event.name,
        "summary": event.description,
        "contentType": "application/json",
        "x-event-version": event.version,
        "headers": _ref("components", "schemas", "WebhookHeaders"),
        "payload": {
            "type": "object",
            "properties": {
                "type": {"const": event.name},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": _with_id(event.schema),
            },
            "required": ["type", "timestamp", "data"],
            "additionalProperties": False,
        },
    }


WEBHOOK_HEADERS = {
    "type": "object",
    "description": "Standard Webhooks headers (https://www.standardwebhooks.com/). Verify "
    "them with the endpoint's `whsec_` secret, e.g. with the `standardwebhooks` package.",
    "properties": {
        "webhook-id": {
            "type": "string",
            "description": "The delivery's id: the same on every retry, so receivers can "
            "drop duplicates.",
        },
        "webhook-timestamp": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Unix seconds of this attempt; refuse ones older than 5 minutes.",
        },
        "webhook-signature": {
            "type": "string",
            "description": "Space-separated `v1,<base64 HMAC-SHA256>` of "
            "`<webhook-id>.<webhook-timestamp>.<body>` with each current secret (two while "
            "a rotated secret is still valid).",
        },
    },
    "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
}

PING = {
    "name": "ping",
    "title": "ping",
    "summary": "Keep-alive from the client; the only message a client sends.",
    "contentType": "application/json",
    "payload": {
        "type": "object",
        "properties": {"type": {"const": "ping"}},
        "required": ["type"],
    },
}
PONG = {
    "name": "pong",
    "title": "pong",
    "summary": "The answer to a ping.",
    "contentType": "application/json",
    "payload": {
        "type": "object",
        "properties": {"type": {"const": "pong"}},
        "required": ["type"],
        "additionalProperties": False,
    },
}
ERROR = {
    "name": "error",
    "title": "error",
    "summary": "A client frame that was refused (not JSON, not a ping); the socket stays open.",
    "contentType": "application/json",
    "payload": {
        "type": "object",
        "properties": {
            "type": {"const": "error"},
            "code": {
                "type": "string",
                "enum": ["binary_not_supported", "invalid_json", "invalid_message", "unknown_type"],
            },
            "detail": {"type": "string"},
        },
        "required": ["type", "code", "detail"],
        "additionalProperties": False,
    },
}

SOCKET_DESCRIPTION = """\
One socket per client on the tenant's own host. Authenticate with a JWT access token of \
this tenant, offered as the subprotocol pair `["bearer", "<access token>"]` \
(`new WebSocket(url, ["bearer", token])`), or as `?token=` (which ends up in logs). Each \
event arrives as a JSON text frame `{"type", "id", "data", "ts"}`; events of the tenant \
reach every socket of the tenant, a job's outcome only the sockets of the user who started \
it. Close codes: 4401 (token refused or revoked), 4403 (tenant not active, origin not \
allowed), 4404 (no tenant at this host), 4429 (too many sockets for this user), 1009 \
(frame too large), 1013 (try again later). Delivery is best effort: after a reconnect, \
read the current state from the REST API."""

WEBHOOK_DESCRIPTION = """\
Register an endpoint with `POST /api/v1/webhooks/` (`{url, events}`): each event it \
subscribes to is POSTed to its URL, after the change commits, as \
`{"type", "timestamp", "data"}` where `data` starts with the object's `id`. Deliveries are \
signed as Standard Webhooks specifies (headers `webhook-id`, `webhook-timestamp`, \
`webhook-signature`), retried with backoff until a 2xx answer (at least once, the same \
`webhook-id` on every retry), and listed under `GET /api/v1/webhooks/{id}/deliveries/`."""


def asyncapi_document(*, host: str, secure: bool) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the tenant served at ``host``."""
    events = event_types()
    messages: dict[str, Any] = {"ping": PING, "pong": PONG, "error": ERROR}
    for event in events:
        messages[f"socket.{event.name}"] = _socket_message(event)
        messages[f"webhook.{event.name}"] = _webhook_message(event)
    socket_messages = {
        event.name: _ref("components", "messages", f"socket.{event.name}") for event in events
    }
    webhook_messages = {
        event.name: _ref("components", "messages", f"webhook.{event.name}") for event in events
    }
    for name in ("ping", "pong", "error"):
        socket_messages[name] = _ref("components", "messages", name)

    def channel_messages(channel: str, names: list[str]) -> list[dict[str, str]]:
        return [_ref("channels", channel, "messages", name) for name in names]

    event_names = [event.name for event in events]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Atrium events",
            "version": DOCUMENT_VERSION,
            "description": "The events of one tenant: on its WebSocket and as signed "
            "webhooks. Every event type is declared once with a name, a version "
            "(`x-event-version`) and the JSON Schema of its `data`. The REST API is "
            "described by the OpenAPI document at `/api/schema/`.",
            "externalDocs": {"description": "The REST API (OpenAPI)", "url": "/api/schema/"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "tenant": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "description": "The tenant's own host.",
                "security": [
                    _ref("components", "securitySchemes", "bearerSubprotocol"),
                    _ref("components", "securitySchemes", "tokenQuery"),
                ],
            },
            "subscriber": {
                "host": "{endpoint_host}",
                "protocol": "https",
                "description": "Your webhook endpoint: the URL registered with "
                "`POST /api/v1/webhooks/`. Atrium is the client; it POSTs there.",
                "variables": {"endpoint_host": {"description": "The host of the registered URL."}},
                "security": [_ref("components", "securitySchemes", "webhookSignature")],
            },
        },
        "channels": {
            "events": {
                "address": SOCKET_PATH,
                "title": "WebSocket events",
                "description": SOCKET_DESCRIPTION,
                "servers": [_ref("servers", "tenant")],
                "messages": socket_messages,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "The access token, when the "
                                    "`bearer` subprotocol cannot be used.",
                                }
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            },
            "webhooks": {
                "address": None,  # each endpoint's own URL
                "title": "Webhooks",
                "description": WEBHOOK_DESCRIPTION,
                "servers": [_ref("servers", "subscriber")],
                "messages": webhook_messages,
            },
        },
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "channel": _ref("channels", "events"),
                "title": "Receive the tenant's events",
                "summary": "Events, pongs and errors the server sends on the socket.",
                "messages": channel_messages("events", [*event_names, "pong", "error"]),
            },
            "sendPing": {
                "action": "send",
                "channel": _ref("channels", "events"),
                "title": "Ping",
                "summary": "Keep the socket alive; answered with a pong.",
                "messages": channel_messages("events", ["ping"]),
                "reply": {
                    "channel": _ref("channels", "events"),
                    "messages": channel_messages("events", ["pong"]),
                },
            },
            "receiveWebhooks": {
                "action": "receive",
                "channel": _ref("channels", "webhooks"),
                "title": "Receive webhook deliveries",
                "summary": "What your endpoint receives: one signed POST per event and "
                "subscribed endpoint. Answer 2xx within 10 s.",
                "bindings": {"http": {"method": "POST", "bindingVersion": "0.3.0"}},
                "messages": channel_messages("webhooks", event_names),
            },
        },
        "components": {
            "schemas": {"WebhookHeaders": WEBHOOK_HEADERS},
            "messages": messages,
            "securitySchemes": {
                "bearerSubprotocol": {
                    "type": "httpApiKey",
                    "name": "Sec-WebSocket-Protocol",
                    "in": "header",
                    "description": "`bearer, <JWT access token of this tenant>`: the "
                    "subprotocol pair `['bearer', token]`; the server answers `bearer`.",
                },
                "tokenQuery": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The access token as `?token=` (logged by proxies: "
                    "prefer the subprotocol).",
                },
                "webhookSignature": {
                    "type": "httpApiKey",
                    "name": "webhook-signature",
                    "in": "header",
                    "description": "Sent by Atrium, checked by you: HMAC-SHA256 with the "
                    "endpoint's `whsec_` secret, per Standard Webhooks.",
                },
            },
        },
    }
