"""The CLI's argument parsers: one-line usage errors, Django's options after a subcommand."""

from __future__ import annotations

import argparse

from django.core.management.base import CommandError, CommandParser


class OneLineErrorParser(CommandParser):
    """Usage errors as one line (what is wrong, and where to look), exit code 2."""

    def error(self, message: str):
        if getattr(self, "called_from_command_line", True) is False:
            raise CommandError(f"Error: {message}")
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def share_django_options(parser: CommandParser) -> None:
    """Django's own options (-v, --settings, --traceback, …) after a subcommand too.

    argparse hands everything after the subcommand to the subcommand's parser, so without
    this ``tenants migrate -v 2`` was refused. ``SUPPRESS`` leaves the value given before
    the subcommand (or the default) alone unless the option is repeated after it.
    """
    keep = argparse.SUPPRESS
    parser.add_argument(
        "-v",
        "--verbosity",
        type=int,
        choices=[0, 1, 2, 3],
        default=keep,
        help="Verbosity level; 0=minimal output, 1=normal output, 2=verbose output, 3=very verbose output",
    )
    parser.add_argument("--settings", default=keep, help="The Python path to a settings module.")
    parser.add_argument("--pythonpath", default=keep, help="A directory to add to the Python path.")
    for flag, text in (
        ("--traceback", "Display a full stack trace on CommandError exceptions."),
        ("--no-color", "Don't colorize the command output."),
        ("--force-color", "Force colorization of the command output."),
        ("--skip-checks", "Skip system checks."),
    ):
        parser.add_argument(flag, action="store_true", default=keep, help=text)


def subcommands(parser: CommandParser, *, dest: str, metavar: str):
    """The subparsers of ``parser``; the chosen one's name lands in ``options[dest]``."""
    return parser.add_subparsers(
        dest=dest, metavar=metavar, required=True, parser_class=OneLineErrorParser
    )


def command(parent, name: str, **kwargs) -> CommandParser:
    """A subcommand that takes Django's own options too."""
    parser = parent.add_parser(name, **kwargs)
    share_django_options(parser)
    return parser


def tenant_command(parent, name: str, text: str, *targets: str, **target_help) -> CommandParser:
    """A subcommand on one tenant: its slug, then the positionals ``targets``.

    ``target_help`` gives a positional's help by name. The caller adds its own options,
    then ``json_flag``, so ``--help`` lists them in that order.
    """
    parser = command(parent, name, help=text)
    parser.add_argument("slug")
    for target in targets:
        parser.add_argument(
            target, **({"help": target_help[target]} if target in target_help else {})
        )
    return parser


def json_flag(parser: CommandParser) -> None:
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
