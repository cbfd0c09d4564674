"""User reads of a tenant: the directory and its filters, and a user's sessions."""

import django_filters
from django.db.models import QuerySet
from django.utils import timezone

from atrium.platform.api.filters import StrictBooleanFilter

from .models import Role, User, UserSession


class UserFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    is_active = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]


def user_list() -> QuerySet[User]:
    return User.objects.only(
        "id", "email", "name", "role", "is_active", "date_joined", "last_login"
    )


def session_list(*, user: User) -> QuerySet[UserSession]:
    """The user's live sessions: not revoked, not expired, and of the user's current token
    version (a logout or a password change ends every session issued before)."""
    return UserSession.objects.filter(
        user=user,
        revoked_at=None,
        expires_at__gt=timezone.now(),
        token_version=user.token_version,
    ).order_by("-last_used_at")
