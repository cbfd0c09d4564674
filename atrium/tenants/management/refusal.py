"""django-tenants' own commands, each replaced by a refusal that names the ``tenants``
subcommand doing the job through Atrium (provisioning, routing, sockets, Redis, files).

Left in place they created tenants with no schema, dropped schemas behind the routing
directory's back and migrated only some schemas. ``atrium.tenants`` comes before
``django_tenants`` in INSTALLED_APPS, so these commands shadow theirs.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError


class RefusedCommand(BaseCommand):
    """Refuses whatever it is given (its arguments are django-tenants', not ours)."""

    instead = ""  # what to run instead, in one sentence
    requires_system_checks = []

    @property
    def help(self) -> str:  # shown by `manage.py help <command>`
        return self.instead

    def refusal(self, name: str) -> CommandError:
        return CommandError(f"`{name}` (django-tenants) bypasses Atrium: {self.instead}")

    def run_from_argv(self, argv: list[str]) -> None:
        error = self.refusal(argv[1])
        self.stderr.write(f"{error.__class__.__name__}: {error}")
        sys.exit(1)

    def execute(self, *args, **options) -> None:
        raise self.refusal(self.__module__.rsplit(".", 1)[-1])
