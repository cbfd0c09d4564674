"""``tenants pool status|fill``: the pre-built spare schemas new tenants are made from."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from atrium.tenants.pool import pool_fill, pool_status, spare_schemas

from .output import emit, emit_json
from .parsers import command, json_flag, subcommands


def add_parsers(sub) -> None:
    p = command(sub, "pool", help="The pool of pre-built spare schemas.")
    psub = subcommands(p, dest="pool_action", metavar="<status|fill>")
    json_flag(command(psub, "status", help="How many spares are ready."))
    s = command(psub, "fill", help="Clone spares until the pool holds N.")
    s.add_argument("count", type=int, metavar="N")
    json_flag(s)


def pool(cmd: BaseCommand, options) -> None:
    if options["pool_action"] == "status":
        status = pool_status()
        if options["json"]:
            emit_json(cmd, status)
            return
        cmd.stdout.write(
            f"{status['spares']} spare schema(s) ready (target {status['target']}), "
            f"{status['stale']} behind on migrations; template "
            f"{'present' if status['template'] else 'MISSING: run `tenants migrate`'}."
        )
        return
    if options["count"] < 0:
        raise CommandError("N must be 0 or more.")
    created = pool_fill(options["count"])
    emit(
        cmd,
        options,
        f"Cloned {created} spare schema(s); the pool holds {options['count']} or more.",
        {"cloned": created, "spares": len(spare_schemas())},
    )


HANDLERS = {"pool": pool}
