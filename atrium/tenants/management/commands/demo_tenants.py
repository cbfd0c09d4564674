"""Provision the demo tenants ``acme`` and ``globex`` (idempotent) and print their logins."""

from django.core.management.base import BaseCommand

from atrium.conf import atrium_settings
from atrium.tenants import provisioning
from atrium.tenants.context import public_scope
from atrium.tenants.models import Tenant
from atrium.tenants.naming import tenant_url

DEMO_TENANTS = [
    ("acme", "Acme Corporation", "owner@acme.test", "acme-demo-Passw0rd"),
    ("globex", "Globex Corporation", "owner@globex.test", "globex-demo-Passw0rd"),
]


class Command(BaseCommand):
    help = "Create the demo tenants acme and globex with an owner each; re-running is harmless."

    def handle(self, *args, **options) -> None:
        with public_scope():
            for slug, name, email, password in DEMO_TENANTS:
                if Tenant.objects.filter(slug=slug).exists():
                    note = "exists"
                else:
                    provisioning.tenant_create(
                        slug=slug, name=name, owner_email=email, owner_password=password
                    )
                    note = "created"
                url = tenant_url(f"{slug}.{atrium_settings.BASE_DOMAIN}")
                self.stdout.write(f"{slug:<8} {note:<8} {url}  login: {email} / {password}")
