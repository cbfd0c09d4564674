"""Where webhooks meet the rest of the platform: the event catalogue (which types exist,
publishing ``webhook.disabled``) and the audit log."""

from __future__ import annotations

from typing import Any

WEBHOOK_TEST = "webhook.test"
WEBHOOK_DISABLED = "webhook.disabled"


def known_event_types() -> set[str]:
    try:
        from atrium.platform.events import event_types
    except ImportError:  # the catalogue is not there yet
        return {WEBHOOK_TEST, WEBHOOK_DISABLED, "product.created", "product.updated"}
    return {declared.name for declared in event_types()}


def publish_disabled(endpoint) -> None:
    try:
        from atrium.platform.events import publish
    except ImportError:
        return
    publish(
        WEBHOOK_DISABLED,
        id=str(endpoint.pk),
        data={"url": endpoint.url, "reason": endpoint.disabled_reason},
    )


def audit(action: str, endpoint, *, changes: dict[str, Any] | None = None, **extra: Any) -> None:
    try:
        from atrium.platform.audit.services import audit_record
    except ImportError:
        return
    audit_record(action, target=endpoint, target_label=endpoint.url, changes=changes, **extra)
