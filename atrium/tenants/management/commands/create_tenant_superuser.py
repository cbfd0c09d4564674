"""Refused: `create_tenant_superuser` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = (
        "a tenant's owner is made by `manage.py tenants create`; add staff in the "
        "tenant's admin or with `manage.py tenants run <slug> -- createsuperuser`."
    )
