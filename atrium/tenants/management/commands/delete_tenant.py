"""Refused: `delete_tenant` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "run `manage.py tenants delete <slug>` to archive it, or `manage.py tenants delete "
        "<slug> --purge --yes` to drop everything of it."
    )
