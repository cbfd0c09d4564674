"""Invitation reads: the list and its ``status`` filter (expired is computed from
``expires_at``, so the filter compares with the time of the request)."""

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from atrium.platform.accounts.models import Role

from .models import Invitation, InvitationStatus


def status_condition(status: str) -> Q:
    now = timezone.now()
    open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
    return {
        InvitationStatus.PENDING: open_ & Q(expires_at__gt=now),
        InvitationStatus.EXPIRED: open_ & Q(expires_at__lte=now),
        InvitationStatus.ACCEPTED: Q(accepted_at__isnull=False),
        InvitationStatus.REVOKED: Q(revoked_at__isnull=False),
    }[status]


class InvitationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=InvitationStatus.choices, method="filter_status", label="Status"
    )
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Invitation
        fields = ["status", "role"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(status_condition(value))


def invitation_list() -> QuerySet[Invitation]:
    return Invitation.objects.all()
