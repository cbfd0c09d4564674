"""Refused: `migrate_schemas` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "run `manage.py tenants migrate [--tenant SLUG] [--parallel N]` (public, template, "
        "spares and tenants)."
    )
