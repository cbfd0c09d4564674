"""``manage.py migrate`` is ``manage.py tenants migrate``: public, template, spares, tenants.

Django's (and django-tenants') ``migrate`` left the template and the spare pool behind, so
the next tenant was cloned from an old schema. What every Django developer types now
migrates every schema Atrium has. Targets that make sense for one schema only (an app
label, a migration name, ``--fake``, ``--plan``, ``--check``, ``--prune``) are refused
with a pointer instead of being applied to some schemas and not others.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import DEFAULT_DB_ALIAS

from .tenants import Command as TenantsCommand


class Command(DjangoMigrateCommand):
    help = (
        "Migrate every schema: public, the template, the spare pool and every tenant (the same "
        "as `manage.py tenants migrate`)."
    )

    def handle(self, *args, **options) -> None:
        unsupported = [
            label
            for label, given in (
                (f"the target {options['app_label']!r}", options["app_label"]),
                ("--fake", options["fake"]),
                ("--fake-initial", options["fake_initial"]),
                ("--plan", options["plan"]),
                ("--check", options["check_unapplied"]),
                ("--prune", options["prune"]),
                (f"--database {options['database']}", options["database"] != DEFAULT_DB_ALIAS),
            )
            if given
        ]
        if unsupported:
            raise CommandError(
                f"`manage.py migrate` migrates every schema (it runs `manage.py tenants migrate`) "
                f"and refuses {', '.join(unsupported)}: that would apply to some schemas only."
            )
        call_command(
            TenantsCommand(stdout=self.stdout._out, stderr=self.stderr._out),
            "migrate",
            verbosity=options["verbosity"],
            skip_checks=True,
        )
