"""Refused: `create_missing_schemas` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "`manage.py tenants migrate` creates the template, and only "
        "`manage.py tenants create` makes a tenant's schema."
    )
