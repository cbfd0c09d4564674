"""Refused: `create_tenant` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "run `manage.py tenants create <slug> --name N --owner-email E` (schema, domain "
        "and owner in one transaction)."
    )
