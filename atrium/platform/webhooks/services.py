"""Webhook writes: endpoints (create, change, delete, rotate the secret, send a test),
deliveries (record them for an event, retry one) and the outcome of attempts.

A delivery's ``webhook-id`` and body are fixed when it is recorded, so every attempt
(automatic retries and manual ones) sends the same message; its ``webhook-timestamp`` and
signature are those of the attempt. After a failed attempt the next one is due after the
next delay of ATRIUM_WEBHOOK_RETRY_SCHEDULE (+-20 % jitter); when the schedule is spent
the delivery has failed. ATRIUM_WEBHOOK_DISABLE_AFTER_FAILURES consecutive failed attempts
of an endpoint disable it and publish ``webhook.disabled``.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.errors import Conflict, InvalidInput
from atrium.tenants.context import on_commit

from . import catalogue, signing
from .delivery import AttemptResult
from .kicks import kick
from .models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .urls_guard import UrlRefused, check_url

JITTER = 0.2


# ---------------------------------------------------------------------------- validation


def _clean_url(url: str) -> str:
    try:
        return check_url(url)
    except UrlRefused as exc:
        raise InvalidInput(str(exc), code=exc.code, field="url") from None


def _clean_events(events: Iterable[str]) -> list[str]:
    events = list(dict.fromkeys(events))  # order kept, duplicates dropped
    if not events:
        raise InvalidInput(
            "Subscribe to at least one event type.", code="events_empty", field="events"
        )
    known = catalogue.known_event_types()
    unknown = [name for name in events if name not in known]
    if unknown:
        raise InvalidInput(
            f"Unknown event type(s): {', '.join(unknown)}. The catalogue is at /api/asyncapi/.",
            code="unknown_event_type",
            field="events",
        )
    return events


def _lock_tenant_webhooks() -> None:
    """Serialises endpoint creation of this tenant (the count check), for the transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{connection.schema_name}:webhooks"]
        )


# ---------------------------------------------------------------------------- endpoints


@transaction.atomic
def webhook_create(
    *, url: str, events: Iterable[str], description: str = "", enabled: bool = True
) -> WebhookEndpoint:
    url = _clean_url(url)
    events = _clean_events(events)
    _lock_tenant_webhooks()
    limit = atrium_settings.MAX_WEBHOOKS
    if WebhookEndpoint.objects.count() >= limit:
        raise Conflict(
            f"This tenant has {limit} webhook endpoints, the most it may have: delete one "
            "first.",
            code="too_many_webhooks",
        )
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        events=events,
        description=description,
        enabled=enabled,
        secret=signing.secret_generate(),
    )
    catalogue.audit("webhook.created", endpoint, changes={"url": [None, url]})
    return endpoint


@transaction.atomic
def webhook_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    unknown = set(changes) - {"url", "events", "description", "enabled"}
    if unknown:
        raise InvalidInput(f"Not editable: {', '.join(sorted(unknown))}.", code="invalid")
    if "url" in changes:
        changes["url"] = _clean_url(changes["url"])
    if "events" in changes:
        changes["events"] = _clean_events(changes["events"])
    before = {field: getattr(endpoint, field) for field in changes}
    for field, value in changes.items():
        setattr(endpoint, field, value)
    if changes.get("enabled") and not before.get("enabled", True):
        endpoint.consecutive_failures = 0
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    endpoint.save()
    diff = {f: [before[f], changes[f]] for f in changes if before[f] != changes[f]}
    if diff:
        catalogue.audit("webhook.updated", endpoint, changes=diff)
    if changes.get("enabled"):
        _kick_after_commit()  # its waiting deliveries go out again
    return endpoint


@transaction.atomic
def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    catalogue.audit("webhook.deleted", endpoint)
    endpoint.delete()


@transaction.atomic
def webhook_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret signs from now on; the old one signs next to it for
    ATRIUM_WEBHOOK_SECRET_OVERLAP_HOURS, so receivers can switch without losing one."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(
        hours=atrium_settings.WEBHOOK_SECRET_OVERLAP_HOURS
    )
    endpoint.secret = signing.secret_generate()
    endpoint.save()
    catalogue.audit("webhook.updated", endpoint, metadata={"secret": "rotated"})
    return endpoint


def signing_secrets(endpoint: WebhookEndpoint, now=None) -> tuple[str, ...]:
    now = now or timezone.now()
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


@transaction.atomic
def webhook_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint alone, whatever it subscribes to."""
    if not endpoint.enabled:
        raise Conflict("The endpoint is disabled: enable it first.", code="webhook_disabled")
    event = catalogue.test_event(endpoint)
    [delivery] = deliveries_record(
        endpoints=[endpoint], event_type=event.type, body=event.webhook_body()
    )
    return delivery


# ---------------------------------------------------------------------------- deliveries


def body_bytes(body: dict[str, Any]) -> str:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def enabled_endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(enabled=True))


@dataclass(frozen=True)
class Message:
    """One event for some endpoints: one ``webhook-id`` and one body for all of them."""

    event_type: str
    body: dict[str, Any]
    endpoints: Sequence[WebhookEndpoint]


INSERT_BATCH = 1000  # deliveries per INSERT statement


def messages_record(messages: Iterable[Message]) -> list[WebhookDelivery]:
    """One pending delivery per message and endpoint, due now, each message with a
    ``webhook-id`` of its own; one INSERT (per INSERT_BATCH rows, atomic together) for all,
    and the drain is kicked once they are committed."""
    now = timezone.now()
    rows = [
        WebhookDelivery(
            endpoint=endpoint,
            webhook_id=msg_id,
            event_type=message.event_type,
            payload=payload,
            next_attempt_at=now,
        )
        for message in messages
        if message.endpoints
        for msg_id, payload in [(signing.message_id(), body_bytes(message.body))]
        for endpoint in message.endpoints
    ]
    if not rows:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(rows, batch_size=INSERT_BATCH)
    _kick_after_commit()
    return deliveries


def deliveries_record(
    *, endpoints: Sequence[WebhookEndpoint], event_type: str, body: dict[str, Any]
) -> list[WebhookDelivery]:
    """One event's deliveries to ``endpoints`` (``messages_record`` of one message)."""
    return messages_record([Message(event_type=event_type, body=body, endpoints=endpoints)])


@transaction.atomic
def delivery_retry(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send it again now, with the same ``webhook-id`` and body. One more attempt after the
    schedule is spent (or after a success); a pending one's next attempt comes forward."""
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    )
    if not delivery.endpoint.enabled:
        raise Conflict("The endpoint is disabled: enable it first.", code="webhook_disabled")
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at", "updated_at"])
    _kick_after_commit()
    return delivery


def _kick_after_commit() -> None:
    on_commit(kick)


def retry_delay(attempt_count: int) -> float | None:
    """Seconds before attempt ``attempt_count + 1`` (None: no attempt left)."""
    schedule = atrium_settings.WEBHOOK_RETRY_SCHEDULE
    if attempt_count > len(schedule):
        return None
    delay = float(schedule[attempt_count - 1])
    return delay * random.uniform(1 - JITTER, 1 + JITTER)


@transaction.atomic
def attempts_record(results: list[AttemptResult]) -> list[WebhookEndpoint]:
    """Write the outcome of finished attempts: one row each, the deliveries' new state,
    the endpoints' failure streaks. Returns the endpoints this disabled."""
    if not results:
        return []
    by_id = {r.request.delivery_id: r for r in results}
    # Locks in the order an endpoint's DELETE takes them (the endpoint, then its deliveries,
    # which PostgreSQL cascades to), each kind in id order: the two wait for each other
    # instead of deadlocking. An endpoint deleted meanwhile takes its deliveries along and
    # its attempts are not written. FOR NO KEY UPDATE on endpoints is what the streak's
    # UPDATE takes anyway, and lets deliveries be recorded for them meanwhile.
    list(
        WebhookEndpoint.objects.select_for_update(no_key=True)
        .filter(pk__in={r.request.endpoint_id for r in results})
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    counts = dict(
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=list(by_id))
        .order_by("pk")
        .values_list("pk", "attempt_count")
    )
    recorded = [r for r in by_id.values() if r.request.delivery_id in counts]  # else deleted
    WebhookAttempt.objects.bulk_create(
        [
            WebhookAttempt(
                delivery_id=r.request.delivery_id,
                attempted_at=r.attempted_at,
                response_status=r.status,
                duration_ms=r.duration_ms,
                response_body=r.response_body,
                error=r.error,
                succeeded=r.succeeded,
            )
            for r in recorded
        ]
    )
    states = []
    streaks: dict[Any, list[AttemptResult]] = defaultdict(list)
    for result in recorded:
        streaks[result.request.endpoint_id].append(result)
        count = counts[result.request.delivery_id] + 1
        if result.succeeded:
            status, next_at = DeliveryStatus.SUCCEEDED, None
        else:
            delay = retry_delay(count)
            if delay is None:
                status, next_at = DeliveryStatus.FAILED, None
            else:
                status = DeliveryStatus.PENDING
                next_at = result.attempted_at + timedelta(seconds=delay)
        states.append((result.request.delivery_id, count, result.attempted_at, status, next_at))
    _deliveries_update(states)
    return _streaks_record(streaks)


def _deliveries_update(states: list[tuple]) -> None:
    """(id, attempt_count, last_attempt_at, status, next_attempt_at) of each delivery, in
    one UPDATE ... FROM (VALUES ...): bulk_update's CASE per field and row costs a drain
    more time in Python than the HTTP requests whose outcome it records."""
    if not states:
        return
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    row = "(%s::uuid, %s::integer, %s::timestamptz, %s::varchar, %s::timestamptz)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS d SET attempt_count = v.attempt_count, "
            "last_attempt_at = v.last_attempt_at, status = v.status, "
            "next_attempt_at = v.next_attempt_at "
            f"FROM (VALUES {', '.join([row] * len(states))}) "
            "AS v (id, attempt_count, last_attempt_at, status, next_attempt_at) "
            "WHERE d.id = v.id",
            [value for state in states for value in state],
        )


def _streaks_record(streaks: dict[Any, list[AttemptResult]]) -> list[WebhookEndpoint]:
    """Each endpoint's failure streak, then the endpoints it disables. Plain UPDATEs of
    endpoints ``attempts_record`` holds FOR NO KEY UPDATE: nothing stronger, which would
    conflict with the key-share locks of deliveries being recorded for them meanwhile."""
    disabled = []
    threshold = atrium_settings.WEBHOOK_DISABLE_AFTER_FAILURES
    for endpoint_id in sorted(streaks, key=str):
        outcomes = sorted(streaks[endpoint_id], key=lambda r: r.attempted_at)
        successes = [i for i, r in enumerate(outcomes) if r.succeeded]
        rows = WebhookEndpoint.objects.filter(pk=endpoint_id)
        if successes:
            rows.update(consecutive_failures=len(outcomes) - successes[-1] - 1)
        else:
            rows.update(consecutive_failures=F("consecutive_failures") + len(outcomes))
        if threshold <= 0:
            continue
        now = timezone.now()
        reason = f"{threshold} or more consecutive failures"
        if rows.filter(enabled=True, consecutive_failures__gte=threshold).update(
            enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now
        ):
            endpoint = rows.get()
            catalogue.publish_disabled(endpoint)
            disabled.append(endpoint)
    return disabled
