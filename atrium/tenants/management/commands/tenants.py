"""The operator CLI: ``python manage.py tenants <subcommand>`` (see ``--help`` of each).

This file wires the subcommands; each group lives in ``atrium/tenants/cli/``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atrium.errors import AtriumError
from atrium.tenants.audit import cli_operator, operator_scope
from atrium.tenants.cli import (
    audit,
    cors,
    create,
    domains,
    lifecycle,
    listing,
    migrate,
    plan,
    pool,
    run,
    transfer,
    usage,
)
from atrium.tenants.cli.parsers import OneLineErrorParser, subcommands
from atrium.tenants.context import public_scope

# In the order `--help` lists them.
GROUPS = (
    create,
    listing,
    lifecycle,
    transfer,
    domains,
    migrate,
    pool,
    run,
    cors,
    plan,
    usage,
    audit,
)
HANDLERS = {name: handler for group in GROUPS for name, handler in group.HANDLERS.items()}


class Command(BaseCommand):
    help = (
        "Provision, inspect and run tenants: create, list, show, suspend, activate, delete, "
        "export, import, domains, migrate, pool, run, cors, plan, usage, audit."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineErrorParser
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        argv, self.run_argv = run.split_argv(argv)
        super().run_from_argv(argv)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = subcommands(parser, dest="action", metavar="<subcommand>")
        for group in GROUPS:
            group.add_parsers(sub)

    def handle(self, *args, **options) -> None:
        self.verbosity = options["verbosity"]  # read by the migrate progress callback
        try:
            # The platform audit records the OS user and host of what the CLI does.
            with public_scope(), operator_scope(cli_operator()):
                HANDLERS[options["action"]](self, options)
        except AtriumError as exc:
            raise CommandError(exc.message) from exc
