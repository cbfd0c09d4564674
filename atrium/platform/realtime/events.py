"""The WebSocket transport: messages to the sockets of the current tenant or of one user.

Events of the catalogue (``atrium.platform.events``) do not call this module: they are
published with ``events.publish()``, whose realtime sink (``sink.py``) sends them here.
What remains for direct use is news that is not an event of the catalogue, such as a
job's ``job.progress`` (sent at once, mid-transaction, to its creator only):

    publish_to_user(user.id, "job.progress", id=job.id, data={"progress": 40},
                    after_commit=False)

Both are synchronous and work wherever a tenant scope is active: services (HTTP), Celery
tasks (the task base enters the sender's tenant), the CLI. Inside a transaction the event
is sent when it commits and never if it rolls back; outside one, at once. Sockets receive
``{"type": "product.created", "id": …, "data": {…}, "ts": "<ISO 8601 UTC>"}``.

Delivery is best effort: a channel layer that is down or slow loses the event (logged),
and never fails or delays the committed write by more than ATRIUM_REALTIME_PUBLISH_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from atrium.tenants.context import current_tenant
from atrium.tenants.sockets import send_to_group, send_to_groups, tenant_group, user_group

logger = logging.getLogger(__name__)

# The channel-layer message type; Channels dispatches it to EventsConsumer.realtime_event.
EVENT_MESSAGE_TYPE = "realtime.event"
# "<entity>.<action>": never collides with the protocol's own "pong" and "error".
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


def publish_to_tenant(
    event_type: str,
    *,
    id: object,  # noqa: A002  (the event's field name)
    data: Mapping[str, Any],
) -> None:
    """Send an event to every socket of the current tenant (after commit)."""
    _publish(tenant_group(), event_type, id, data)


def publish_to_user(
    user_id: object,
    event_type: str,
    *,
    id: object,  # noqa: A002  (the event's field name)
    data: Mapping[str, Any],
    after_commit: bool = True,
) -> None:
    """Send an event to the sockets of one user of the current tenant (after commit).

    ``after_commit=False`` sends at once, for news that is not data, such as the progress of
    a job running inside one long transaction.
    """
    _publish(user_group(user_id), event_type, id, data, after_commit=after_commit)


def _publish(
    group: str,
    event_type: str,
    event_id: object,
    data: Mapping[str, Any],
    *,
    after_commit: bool = True,
) -> None:
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise ValueError(
            f"Invalid event type {event_type!r}: use '<entity>.<action>', e.g. 'product.created'."
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no event loop in this thread: the blocking send below is allowed
    else:
        raise RuntimeError(
            "publish_to_*() blocks; call it from sync code (a service, a task), or from async "
            "code through tenant_database_sync_to_async."
        )
    # Encoded now, in the caller's scope: bad data fails the caller, not the commit hook,
    # and every socket of the group receives the same text without encoding it again.
    message = _message(
        {"type": event_type, "id": event_id, "data": data, "ts": timezone.now().isoformat()}
    )
    if after_commit:
        transaction.on_commit(functools.partial(_send, group, message))
    else:
        _send(group, message)


def send_envelopes(envelopes: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Send each (group, ``{"type", "id", "data", "ts"}``) now, in order (the events sink,
    after commit)."""
    messages = [(group, _message(envelope)) for group, envelope in envelopes]
    try:
        send_to_groups(messages)
    except Exception:
        # The write has committed; lost events must not turn it into an error.
        logger.exception("realtime: could not publish a batch of %d event(s)", len(messages))


def _message(envelope: Mapping[str, Any]) -> dict[str, Any]:
    text = json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))
    return {"type": EVENT_MESSAGE_TYPE, "schema": current_tenant().schema_name, "text": text}


def _send(group: str, message: dict[str, Any]) -> None:
    try:
        send_to_group(group, message)
    except Exception:
        # The write has committed; a lost event must not turn it into an error.
        logger.exception("realtime: could not publish an event to %s", group)
