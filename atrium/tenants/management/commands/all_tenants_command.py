"""Refused: `all_tenants_command` is django-tenants' (see atrium/tenants/management/refusal.py)."""

from atrium.tenants.management.refusal import RefusedCommand


class Command(RefusedCommand):
    instead = "run `manage.py tenants run --all [--include-inactive] -- <command> [args…]`."
