"""User reads of a tenant: the directory and its filters."""

import django_filters
from django.db.models import QuerySet

from atrium.platform.api.filters import StrictBooleanFilter

from .models import Role, User


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
