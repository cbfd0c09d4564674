"""Refused: `collectstatic_schemas` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = "static files are the same for every tenant: run `manage.py collectstatic`."
