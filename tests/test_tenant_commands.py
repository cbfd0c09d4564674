"""django-tenants' own commands go through Atrium or refuse; ``tenants run`` runs any
command in tenant scope. Every command runs as a subprocess, as an operator would run it."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from atrium.tenants import services
from atrium.tenants.context import public_scope
from atrium.tenants.models import Tenant

from .fixtures import run_cli
from .test_cli import (
    failed,
    forget_sessions_migration,
    make_tenant,
    platform_state,
    records_sessions_migration,
    spare_schemas_in_catalog,
    succeeded,
)

# Each command with the arguments an operator following django-tenants' docs would give,
# and the `tenants` subcommand the refusal must point to.
DJANGO_TENANTS_COMMANDS = [
    (
        "create_tenant",
        ("--noinput", "--schema_name", "rogue", "--slug", "rogue", "--name", "Rogue"),
        "tenants create",
    ),
    ("create_tenant_superuser", ("--schema", "alpha", "--noinput"), "tenants create"),
    ("delete_tenant", ("--schema", "beta", "--noinput"), "tenants delete"),
    ("clone_tenant", ("--clone_from", "alpha", "--clone_tenant_fields", "False"), "tenants create"),
    ("rename_schema", ("--rename_from", "alpha", "--rename_to", "gamma"), "tenants create"),
    ("migrate_schemas", ("--noinput",), "tenants migrate"),
    ("migrate_schemas", ("--schema", "alpha"), "tenants migrate"),
    ("tenant_command", ("check", "--schema", "alpha"), "tenants run <slug> --"),
    ("all_tenants_command", ("check",), "tenants run --all"),
    ("create_domain", ("--domain", "127.0.0.1"), "tenants domains add"),
    ("delete_domain", ("--domain", "alpha.localhost"), "tenants domains remove"),
    ("create_missing_schemas", (), "tenants migrate"),
    ("collectstatic_schemas", ("--noinput",), "collectstatic"),
]


@pytest.mark.parametrize(
    ("command", "args", "pointer"),
    DJANGO_TENANTS_COMMANDS,
    ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(DJANGO_TENANTS_COMMANDS)],
)
def test_django_tenants_commands_refuse_with_a_pointer(
    live_db, tenant_a, tenant_b, command, args, pointer
):
    before = platform_state()

    line = failed(run_cli(command, *args), 1)

    assert line.startswith(f"CommandError: `{command}` (django-tenants) bypasses Atrium: ")
    assert f"`manage.py {pointer}" in line
    assert platform_state() == before
    with public_scope():
        assert not Tenant.objects.filter(slug="rogue").exists()


def test_plain_migrate_migrates_public_template_spares_and_tenants(live_db):
    make_tenant(live_db, "cmd-migrate")
    spare = spare_schemas_in_catalog()[0]
    behind = [settings.ATRIUM_TEMPLATE_SCHEMA, spare, "cmd_migrate"]
    for schema in behind:
        forget_sessions_migration(schema, drop_table=True)
    try:
        out = succeeded(run_cli("migrate"))
        assert out.startswith("Migrating public schema…\n")
        assert "3 migrated" in out and "0 failed." in out
        for schema in behind:
            assert records_sessions_migration(schema), schema
    finally:
        succeeded(run_cli("tenants", "migrate"))  # the template must not stay behind


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (("sessions", "zero"), "the target 'sessions'"),
        (("--fake",), "--fake"),
        (("--plan",), "--plan"),
        (("--check",), "--check"),
    ],
)
def test_plain_migrate_refuses_what_would_touch_some_schemas_only(live_db, args, refused):
    line = failed(run_cli("migrate", *args), 1)
    assert line.startswith("CommandError: `manage.py migrate` migrates every schema")
    assert refused in line


# ----------------------------------------------------------------------------- tenants run

PRINT_SCHEMA = "from django.db import connection; print('schema=' + connection.schema_name)"
FAIL_IN = (
    "import sys; from django.db import connection; "
    "sys.exit(3) if connection.schema_name == 'cmd_run_bad' else print('fine')"
)


def schemas_printed(out: str) -> list[str]:
    return [line.removeprefix("schema=") for line in out.splitlines() if line.startswith("schema=")]


def test_run_in_one_tenant(live_db, tenant_a):
    out = succeeded(run_cli("tenants", "run", "alpha", "--", "shell", "-c", PRINT_SCHEMA))
    assert schemas_printed(out) == ["alpha"]
    assert out.splitlines()[0] == "== alpha (schema alpha)"
    assert out.endswith("Ran `shell` in 1 tenant(s): 1 ok, 0 failed.\n")


def test_run_all_skips_inactive_tenants_unless_asked(live_db, tenant_a, tenant_b):
    make_tenant(live_db, "cmd-run-off")
    services.tenant_suspend(slug="cmd-run-off")
    with public_scope():
        active = list(
            Tenant.objects.filter(status="active")
            .order_by("slug")
            .values_list("schema_name", flat=True)
        )

    out = succeeded(run_cli("tenants", "run", "--all", "--", "shell", "-c", PRINT_SCHEMA))
    assert schemas_printed(out) == active
    assert "cmd_run_off" not in schemas_printed(out)
    assert "skipped 1 not active (cmd-run-off: suspended; --include-inactive runs them too)" in out

    out = succeeded(
        run_cli("tenants", "run", "--all", "--include-inactive", "--", "shell", "-c", PRINT_SCHEMA)
    )
    assert sorted(schemas_printed(out)) == sorted([*active, "cmd_run_off"])

    line = failed(run_cli("tenants", "run", "cmd-run-off", "--", "shell", "-c", PRINT_SCHEMA), 1)
    assert line == (
        "CommandError: Tenant 'cmd-run-off' is suspended: add --include-inactive to run the "
        "command in it anyway."
    )


def test_run_reports_each_tenant_and_fails_if_one_failed(live_db, tenant_a):
    make_tenant(live_db, "cmd-run-bad")
    make_tenant(live_db, "cmd-run-good")

    result = run_cli("tenants", "run", "--all", "--json", "--", "shell", "-c", FAIL_IN)

    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1].startswith("CommandError: `shell` failed in 1 of ")
    )
    report = json.loads(result.stdout)
    by_slug = {row["slug"]: row for row in report["results"]}
    assert by_slug["cmd-run-bad"]["status"] == "failed"
    assert by_slug["cmd-run-bad"]["error"] == "exit status 3"
    assert (by_slug["cmd-run-good"]["status"], by_slug["alpha"]["status"]) == ("ok", "ok")
    assert "fine" in by_slug["cmd-run-good"]["output"]
    assert report["command"] == ["shell", "-c", FAIL_IN]
    assert report["failed"] == 1 and report["ok"] == len(report["results"]) - 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alpha",), "Give the command after `--`"),
        (("alpha", "--", "no_such_command"), "Unknown command 'no_such_command'"),
        (("alpha", "--", "check", "--bogus"), "check: unrecognized arguments: --bogus"),
        (("alpha", "--", "migrate"), "run `manage.py tenants migrate"),
        (("nope", "--", "check"), "No tenant with the slug 'nope'"),
    ],
)
def test_run_refusals_are_one_line(live_db, tenant_a, args, message):
    line = failed(run_cli("tenants", "run", *args), 1)
    assert line.startswith("CommandError: ") and message in line


def test_run_needs_a_slug_or_all(live_db):
    line = failed(run_cli("tenants", "run", "--", "check"), 2)
    assert "one of the arguments slug --all is required" in line
