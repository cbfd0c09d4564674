"""Refused: `rename_schema` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "a tenant's schema is never renamed; create a new tenant with "
        "`manage.py tenants create` instead."
    )
