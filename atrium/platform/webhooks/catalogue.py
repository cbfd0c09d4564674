"""Where webhooks meet the rest of the platform: the event catalogue (which types exist,
the test event, publishing ``webhook.disabled``) and the audit log."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from atrium.platform.audit.services import audit_record
from atrium.platform.events import Event, event_type, event_types, publish

WEBHOOK_TEST = "webhook.test"
WEBHOOK_DISABLED = "webhook.disabled"


def known_event_types() -> set[str]:
    return {declared.name for declared in event_types()}


def test_event(endpoint) -> Event:
    """The ``webhook.test`` event of ``endpoint``, shaped as the bus shapes every event."""
    declared = event_type(WEBHOOK_TEST)
    return Event(
        type=declared.name,
        version=declared.version,
        id=str(endpoint.pk),
        data={"url": endpoint.url},
        ts=timezone.now(),
    )


def publish_disabled(endpoint) -> None:
    publish(
        WEBHOOK_DISABLED,
        id=str(endpoint.pk),
        data={"url": endpoint.url, "reason": endpoint.disabled_reason},
    )


def audit(action: str, endpoint, *, changes: dict[str, Any] | None = None, **extra: Any) -> None:
    audit_record(action, target=endpoint, target_label=endpoint.url, changes=changes, **extra)
