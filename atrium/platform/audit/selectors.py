"""Reading the audit log: the newest-first queryset and the FilterSet of its list."""

import django_filters
from django.db.models import QuerySet

from .actions import ACTIONS
from .models import ActorType, AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_id", help_text="The actor's id (a user's or an API key's id)."
    )
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices)
    action = django_filters.ChoiceFilter(
        choices=[(name, name) for name in ACTIONS], help_text="One of the published actions."
    )
    target_type = django_filters.CharFilter(help_text="`app.model`, such as `catalog.product`.")
    target_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="gte", help_text="Entries at or after (ISO 8601)."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="at", lookup_expr="lt", help_text="Entries before (ISO 8601)."
    )

    class Meta:
        model = AuditEvent
        fields = ["actor", "actor_type", "action", "target_type", "target_id", "since", "until"]


def audit_event_list() -> QuerySet[AuditEvent]:
    """Newest first; (at, id) is the order the cursor pages by and an index serves."""
    return AuditEvent.objects.order_by("-at", "-id")
