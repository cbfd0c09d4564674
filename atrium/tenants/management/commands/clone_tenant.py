"""Refused: `clone_tenant` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "every tenant is cloned from the template by `manage.py tenants create <slug> …`; "
        "copying one tenant into another is not supported."
    )
