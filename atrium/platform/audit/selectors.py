"""Reading the audit log: the newest-first queryset, filtered."""

from django.db.models import QuerySet

from .models import AuditEvent


def audit_event_list(*, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """Newest first; (at, id) is the order the cursor pages by and an index serves.
    ``filters`` are lookups (``{"action": …, "at__gte": …}``), validated by the API's
    ``AuditFilterSerializer``, which the list and the export share."""
    return AuditEvent.objects.filter(**(filters or {})).order_by("-at", "-id")
