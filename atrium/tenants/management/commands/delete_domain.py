"""Refused: `delete_domain` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = "run `manage.py tenants domains remove <slug> <domain>`."
