"""The operator CLI end to end: ``manage.py tenants …`` and ``manage.py demo_tenants``.

Every command runs as a subprocess, as an operator would run it, against the test
database; the tests then read what it did back through the ORM, PostgreSQL's catalog,
Redis and host routing. Tenants set up in-process are only fixtures: what is under test
is always the subprocess.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection

from atrium.platform.accounts.models import User
from atrium.tenants import provisioning, services
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.migrator import quote_ident
from atrium.tenants.models import Domain, Tenant, TenantStatus

from .fixtures import OWNER_PASSWORD, REPO_ROOT, cli_env, run_cli, schema_exists

BASE = settings.ATRIUM_BASE_DOMAIN
SPARE_PREFIX = settings.ATRIUM_SPARE_SCHEMA_PREFIX
# The migration the schema-drift tests make a schema forget: nothing depends on it, and
# its table can be dropped and re-created without touching anything else.
SESSIONS_INITIAL = ("sessions", "0001_initial")


# ----------------------------------------------------------------------------- helpers


def tenants(*args: str) -> subprocess.CompletedProcess:
    return run_cli("tenants", *args)


def succeeded(result: subprocess.CompletedProcess) -> str:
    """The stdout of a command that must have exited 0."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess, exit_code: int) -> str:
    """The single stderr line of a command that must have failed with ``exit_code``."""
    assert result.returncode == exit_code, f"exit {result.returncode}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    return lines[0]


def as_json(result: subprocess.CompletedProcess):
    return json.loads(succeeded(result))


def host_of(slug: str) -> str:
    return f"{slug}.{BASE}"


def url_of(host: str) -> str:
    return f"{settings.ATRIUM_SITE_SCHEME}://{host}:{settings.ATRIUM_SITE_PORT}/"


def http_get(host: str):
    return Client().get("/", HTTP_HOST=host)


def error_code(response) -> str:
    return response.json()["errors"][0]["code"]


def create_args(slug: str, *extra: str, email: str = "owner@newco.test") -> tuple[str, ...]:
    return ("create", slug, "--name", "New Co", "--owner-email", email, *extra)


def make_tenant(live_db: list[str], slug: str, **kwargs) -> Tenant:
    """A committed tenant to run commands against (created in-process: it is not under test)."""
    live_db.append(slug)
    kwargs.setdefault("owner_password", OWNER_PASSWORD)
    result = provisioning.tenant_create(
        slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test", **kwargs
    )
    return result.tenant


def tenant_or_none(slug: str) -> Tenant | None:
    with public_scope():
        return Tenant.objects.filter(slug=slug).first()


def domains_of(slug: str) -> dict[str, bool]:
    with public_scope():
        return dict(Domain.objects.filter(tenant__slug=slug).values_list("domain", "is_primary"))


def spare_schemas_in_catalog() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname",
            [SPARE_PREFIX],
        )
        return [row[0] for row in cursor.fetchall()]


def platform_state() -> dict:
    """What a refused command must leave exactly as it was: rows and schemas."""
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE NOT starts_with(nspname, 'pg_') "
            "AND nspname <> 'information_schema' ORDER BY nspname"
        )
        return {
            "tenants": sorted(Tenant.objects.values_list("slug", "status", "status_reason")),
            "domains": sorted(Domain.objects.values_list("domain", "tenant__slug", "is_primary")),
            "schemas": [row[0] for row in cursor.fetchall()],
        }


def forget_sessions_migration(schema: str, *, drop_table: bool) -> None:
    """Put a schema behind the code: it no longer records ``sessions.0001_initial``.

    With ``drop_table`` re-applying the migration succeeds; without it, the table is
    still there and re-applying it fails (CREATE TABLE of an existing table).
    """
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote_ident(schema)}.django_migrations WHERE app = %s AND name = %s",
            list(SESSIONS_INITIAL),
        )
        assert cursor.rowcount == 1
        if drop_table:
            cursor.execute(f"DROP TABLE {quote_ident(schema)}.django_session")


def records_sessions_migration(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {quote_ident(schema)}.django_migrations "
            "WHERE app = %s AND name = %s",
            list(SESSIONS_INITIAL),
        )
        return cursor.fetchone()[0] == 1


def has_session_table(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{quote_ident(schema)}.django_session"])
        return cursor.fetchone()[0] is not None


def all_schemas_to_migrate() -> int:
    """How many schemas a full ``tenants migrate`` checks: template, spares, tenants."""
    with public_scope():
        return 1 + len(spare_schemas_in_catalog()) + Tenant.objects.count()


# ----------------------------------------------------------------------------- --help

HELP_CASES = [
    (
        (),
        [
            "create",
            "list",
            "show",
            "suspend",
            "activate",
            "delete",
            "domains",
            "migrate",
            "pool",
            "run",
        ],
    ),
    (
        ("create",),
        [
            "slug",
            "--name",
            "--owner-email",
            "--owner-password",
            "--plan",
            "--domain",
            "--json",
            "--owner-password-stdin",
            "--owner-password-prompt",
            "--verbosity",
        ],
    ),
    (("list",), ["--status", "--json"]),
    (("show",), ["slug", "--json"]),
    (("suspend",), ["slug", "--reason", "--json", "--verbosity"]),
    (("activate",), ["slug", "--json"]),
    (("delete",), ["slug", "--purge", "--yes", "--json"]),
    (("domains",), ["add", "remove", "set-primary", "list"]),
    (("domains", "add"), ["slug", "domain", "--primary", "--json", "--verbosity"]),
    (("domains", "remove"), ["slug", "domain", "--json"]),
    (("domains", "set-primary"), ["slug", "domain", "--json"]),
    (("domains", "list"), ["slug", "--json"]),
    (
        ("migrate",),
        ["--tenant", "--parallel", "--plan", "--dry-run", "--django", "--json", "--verbosity"],
    ),
    (("pool",), ["status", "fill"]),
    (("pool", "status"), ["--json"]),
    (("pool", "fill"), ["N", "--json"]),
    (("run",), ["slug", "--all", "--include-inactive", "--json"]),
    (("export",), ["slug", "--output", "--json"]),
    (("import",), ["file", "--slug", "--domain", "--json"]),
    (("audit",), ["slug", "--since", "--limit", "--json"]),
]


@pytest.mark.parametrize(
    ("path", "mentions"), HELP_CASES, ids=[" ".join(path) or "tenants" for path, _ in HELP_CASES]
)
def test_help_describes_each_subcommand(path, mentions):
    out = succeeded(tenants(*path, "--help"))
    assert out.startswith(f"usage: manage.py {' '.join(('tenants', *path))} ")
    for mention in mentions:
        assert re.search(rf"(?<![\w-]){re.escape(mention)}(?![\w-])", out), (mention, out)
    if path == ("create",):
        assert "{free,pro,enterprise}" in out


# ----------------------------------------------------------------------------- refusals

# (arguments, exit code, what the one stderr line says). Exit 2: the command line itself
# is wrong (argparse); exit 1: the request is refused (CommandError).
REFUSALS = [
    pytest.param(create_args("Bad_Slug"), 1, "Invalid slug 'Bad_Slug'", id="slug-case"),
    pytest.param(create_args("x"), 1, "Invalid slug 'x'", id="slug-short"),
    pytest.param(create_args("newco\n"), 1, "Invalid slug 'newco\\n'", id="slug-newline"),
    pytest.param(
        create_args("newco", "--domain", "127.0.0.1"), 1, "an IP address never", id="domain-ip"
    ),
    pytest.param(create_args("9lives"), 1, "Invalid slug", id="slug-digit"),
    pytest.param(create_args("trailing-"), 1, "Invalid slug", id="slug-dash"),
    pytest.param(create_args("public"), 1, "'public' is reserved", id="public"),
    pytest.param(create_args("www"), 1, "'www' is reserved", id="www"),
    pytest.param(create_args("admin"), 1, "'admin' is reserved", id="admin"),
    pytest.param(create_args("api"), 1, "'api' is reserved", id="api"),
    pytest.param(create_args("pg-x"), 1, "'pg-x' is reserved", id="pg-prefix"),
    pytest.param(create_args("alpha"), 1, "The slug 'alpha' is taken", id="taken"),
    pytest.param(
        create_args("newco", email="not-an-email"),
        1,
        "Invalid owner e-mail 'not-an-email'",
        id="bad-email",
    ),
    pytest.param(
        ("create", "newco", "--name", "  ", "--owner-email", "o@newco.test"),
        1,
        "needs a name",
        id="blank-name",
    ),
    pytest.param(
        create_args("newco", "--owner-password", "123"),
        1,
        "Owner password refused",
        id="weak-password",
    ),
    pytest.param(
        create_args("newco", "--domain", f"beta.{BASE}"),
        1,
        f"may only use newco.{BASE}",
        id="other-slugs-subdomain",
    ),
    pytest.param(
        create_args("newco", "--domain", "shop.example:8080"),
        1,
        "Invalid domain",
        id="domain-with-port",
    ),
    pytest.param(
        create_args("newco", "--plan", "gold"),
        2,
        "argument --plan: invalid choice: 'gold'",
        id="unknown-plan",
    ),
    pytest.param(
        ("create", "newco", "--name", "New Co"),
        2,
        "the following arguments are required: --owner-email",
        id="missing-email",
    ),
    pytest.param(
        ("create",),
        2,
        "the following arguments are required: slug, --name, --owner-email",
        id="missing-all",
    ),
    pytest.param((), 2, "required: <subcommand>", id="no-subcommand"),
    pytest.param(("bogus",), 2, "invalid choice: 'bogus'", id="unknown-subcommand"),
    pytest.param(("domains",), 2, "required: <add|remove|set-primary|list>", id="domains-bare"),
    pytest.param(("pool", "fill", "many"), 2, "invalid int value: 'many'", id="pool-fill-nan"),
    pytest.param(("pool", "fill", "-1"), 1, "N must be 0 or more", id="pool-fill-negative"),
    pytest.param(("show", "nope"), 1, "No tenant with the slug 'nope'", id="show-unknown"),
    pytest.param(("suspend", "nope"), 1, "No tenant with the slug 'nope'", id="suspend-unknown"),
    pytest.param(("activate", "nope"), 1, "No tenant with the slug 'nope'", id="activate-unknown"),
    pytest.param(("delete", "nope"), 1, "No tenant with the slug 'nope'", id="delete-unknown"),
    pytest.param(
        ("delete", "nope", "--purge", "--yes"),
        1,
        "No tenant with the slug 'nope'",
        id="purge-unknown",
    ),
    pytest.param(
        ("domains", "add", "nope", "shop.example"),
        1,
        "No tenant with the slug",
        id="domain-unknown",
    ),
    pytest.param(
        ("migrate", "--tenant", "nope"), 1, "No tenant with the slug 'nope'", id="migrate-unknown"
    ),
    pytest.param(
        ("migrate", "--parallel", "0"), 1, "--parallel must be at least 1", id="migrate-parallel-0"
    ),
]


@pytest.mark.parametrize(("args", "exit_code", "message"), REFUSALS)
def test_refusals_are_one_line_and_change_nothing(
    live_db, tenant_a, tenant_b, args, exit_code, message
):
    before = platform_state()
    result = tenants(*args)
    line = failed(result, exit_code)
    assert message in line
    if exit_code == 1:
        assert line.startswith("CommandError: ")
    else:
        assert line.startswith("manage.py tenants") and line.endswith("(see --help)")
    assert platform_state() == before


# ----------------------------------------------------------------------------- create


def test_create_prints_the_url_and_a_one_time_password_that_logs_the_owner_in(live_db):
    live_db.append("cli-create")
    out = succeeded(tenants(*create_args("cli-create", email="Owner@CLI-Create.test")))

    url = url_of(host_of("cli-create"))
    assert re.match(r"Created tenant cli-create \(schema cli_create, from a (spare|clone)\)", out)
    assert f"URL:      {url}\n" in out
    assert f"Admin:    {url}admin/\n" in out
    assert "Owner:    owner@cli-create.test\n" in out
    password = re.search(r"^Password: (\S+)  \(one-time", out, re.MULTILINE).group(1)

    tenant = tenant_or_none("cli-create")
    assert (tenant.name, tenant.schema_name, tenant.status, tenant.plan) == (
        "New Co",
        "cli_create",
        TenantStatus.ACTIVE,
        settings.ATRIUM_DEFAULT_PLAN,
    )
    assert domains_of("cli-create") == {host_of("cli-create"): True}
    with tenant_scope(tenant):
        owner = User.objects.get()
        assert authenticate(email="owner@cli-create.test", password=password) == owner
        assert authenticate(email="owner@cli-create.test", password=password + "x") is None
    assert http_get(host_of("cli-create")).json()["tenant"] == "cli-create"


def test_create_with_password_plan_and_domain_as_json(live_db):
    live_db.append("cli-json")
    data = as_json(
        tenants(
            *create_args("cli-json", "--owner-password", OWNER_PASSWORD, "--plan", "pro"),
            *("--domain", "Shop.CLI-Json.Example", "--json"),
        )
    )

    tenant = tenant_or_none("cli-json")
    assert data["id"] == str(tenant.id)
    assert {k: data[k] for k in ("slug", "name", "schema_name", "status", "plan")} == {
        "slug": "cli-json",
        "name": "New Co",
        "schema_name": "cli_json",
        "status": "active",
        "plan": "pro",
    }
    assert tenant.plan == "pro"
    assert data["url"] == url_of("shop.cli-json.example")
    assert data["domains"] == [
        {"domain": "shop.cli-json.example", "is_primary": True},
        {"domain": host_of("cli-json"), "is_primary": False},
    ]
    assert domains_of("cli-json") == {"shop.cli-json.example": True, host_of("cli-json"): False}
    assert data["owner_email"] == "owner@newco.test"
    assert data["owner_password"] is None  # only a generated password is ever printed
    assert data["schema_source"] in ("spare", "clone")
    assert isinstance(data["seconds"], float)
    with tenant_scope(tenant):
        assert authenticate(email="owner@newco.test", password=OWNER_PASSWORD) is not None
    assert http_get("shop.cli-json.example").json()["tenant"] == "cli-json"


def test_create_refuses_a_domain_in_use(live_db):
    make_tenant(live_db, "cli-dom-owner", domain="shared.cli.example")
    live_db.append("cli-dom-thief")
    before = platform_state()

    line = failed(tenants(*create_args("cli-dom-thief", "--domain", "SHARED.cli.example")), 1)

    assert line == (
        "CommandError: The domain 'shared.cli.example' is already in use by tenant "
        "'cli-dom-owner'."
    )
    assert platform_state() == before


# ----------------------------------------------------------------------------- list, show


def test_list_as_table_json_and_by_status(live_db, tenant_a, tenant_b):
    make_tenant(live_db, "cli-listed", plan="enterprise", domain="www.cli-listed.example")
    services.tenant_suspend(slug="cli-listed", reason="unpaid")

    table = succeeded(tenants("list")).splitlines()
    assert re.split(r"\s{2,}", table[0]) == [
        *("SLUG", "NAME", "STATUS", "PLAN", "USERS", "SIZE", "PRIMARY DOMAIN")
    ]
    rows = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line) for line in table[1:])}
    assert rows["alpha"][:4] == ["Alpha Ltd", "active", "free", "1"]
    assert re.fullmatch(r"\d+\.\d (kB|MB)", rows["alpha"][4])
    assert rows["alpha"][5] == host_of("alpha")
    assert rows["cli-listed"][:4] == ["Cli-Listed", "suspended", "enterprise", "1"]
    assert rows["cli-listed"][5] == "www.cli-listed.example"
    with public_scope():
        assert sorted(rows) == sorted(Tenant.objects.values_list("slug", flat=True))

    listed = {row["slug"]: row for row in as_json(tenants("list", "--json"))}
    assert set(listed) == set(rows)
    assert listed["cli-listed"]["status_reason"] == "unpaid"
    assert listed["beta"]["primary_domain"] == host_of("beta")
    assert listed["beta"]["id"] == str(tenant_b.id)

    suspended = as_json(tenants("list", "--status", "suspended", "--json"))
    assert "cli-listed" in {row["slug"] for row in suspended}
    assert {row["status"] for row in suspended} == {"suspended"}

    suspended_table = succeeded(tenants("list", "--status", "suspended")).splitlines()[1:]
    assert [line.split()[0] for line in suspended_table] == [row["slug"] for row in suspended]


def schema_size(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relnamespace = %s::regnamespace AND relkind IN ('r', 'm', 'p')",
            [schema],
        )
        return int(cursor.fetchone()[0])


def test_list_shows_name_users_and_size(live_db, tenant_a):
    tenant = make_tenant(live_db, "cli-usage")
    with tenant_scope(tenant):
        for n in range(3):
            User.objects.create_user(email=f"user{n}@cli-usage.test", password=OWNER_PASSWORD)
        User.objects.filter(email="user2@cli-usage.test").update(is_active=False)

    listed = {row["slug"]: row for row in as_json(tenants("list", "--json"))}

    assert listed["cli-usage"]["name"] == "Cli-Usage"
    assert listed["cli-usage"]["users"] == 3  # the owner and two active users
    assert listed["cli-usage"]["size_bytes"] == schema_size("cli_usage")
    assert listed["alpha"]["users"] == 1
    assert listed["alpha"]["size_bytes"] == schema_size("alpha")


def test_usage_of_many_schemas_takes_the_same_two_queries(live_db, tenant_a, tenant_b):
    from atrium.tenants.selectors import schema_usage

    for schemas in (["alpha"], ["alpha", "beta", "no_such_schema"]):
        with CaptureQueriesContext(connection) as queries:
            usage = schema_usage(schemas)
        statements = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
        assert len(statements) == 2, statements
        assert usage["alpha"].users == 1 and usage["alpha"].size_bytes > 0
    assert usage["no_such_schema"].users is None
    assert usage["no_such_schema"].size_bytes is None


def test_show_as_text_and_json(live_db, tenant_a):
    lines = succeeded(tenants("show", "alpha")).splitlines()
    fields = {
        key.rstrip(":"): value
        for key, value in (re.split(r":\s+", line, maxsplit=1) for line in lines)
    }
    assert fields["slug"] == "alpha"
    assert fields["name"] == "Alpha Ltd"
    assert fields["status"] == "active"
    assert fields["status_reason"] == "-"
    assert fields["id"] == str(tenant_a.id)
    assert fields["url"] == url_of(host_of("alpha"))
    assert fields["domain"] == f"{host_of('alpha')} (primary)"

    data = as_json(tenants("show", "alpha", "--json"))
    assert (data["slug"], data["schema_name"], data["plan"]) == ("alpha", "alpha", "free")
    assert data["domains"] == [{"domain": host_of("alpha"), "is_primary": True}]
    assert data["id"] == str(tenant_a.id)


# ----------------------------------------------------------------------------- life cycle


def test_suspend_and_activate_switch_what_the_hosts_serve(live_db):
    make_tenant(live_db, "cli-pause")
    host = host_of("cli-pause")
    assert http_get(host).status_code == 200  # warms this process's routing cache

    out = succeeded(tenants("suspend", "cli-pause", "--reason", "unpaid invoice"))
    assert out == "Suspended cli-pause: its hosts now answer 403 tenant_suspended.\n"
    tenant = tenant_or_none("cli-pause")
    assert (tenant.status, tenant.status_reason) == (TenantStatus.SUSPENDED, "unpaid invoice")
    response = http_get(host)
    assert (response.status_code, error_code(response)) == (403, "tenant_suspended")

    assert succeeded(tenants("activate", "cli-pause")) == "Activated cli-pause.\n"
    tenant = tenant_or_none("cli-pause")
    assert (tenant.status, tenant.status_reason) == (TenantStatus.ACTIVE, "")
    response = http_get(host)
    assert response.status_code == 200
    assert response.json()["tenant"] == "cli-pause"


def test_delete_archives_and_keeps_the_data(live_db):
    make_tenant(live_db, "cli-archive")

    out = succeeded(tenants("delete", "cli-archive"))
    assert out.startswith("Archived cli-archive: no longer served, data kept.")
    assert "tenants delete cli-archive --purge --yes" in out
    tenant = tenant_or_none("cli-archive")
    assert tenant.status == TenantStatus.ARCHIVED
    assert schema_exists("cli_archive")
    with tenant_scope(tenant):
        assert User.objects.filter(email="owner@cli-archive.test").exists()
    response = http_get(host_of("cli-archive"))
    assert (response.status_code, error_code(response)) == (403, "tenant_archived")

    line = failed(tenants("suspend", "cli-archive"), 1)
    assert line == "CommandError: Tenant 'cli-archive' is archived; it cannot be suspended."
    assert tenant_or_none("cli-archive").status == TenantStatus.ARCHIVED

    assert succeeded(tenants("activate", "cli-archive")) == "Activated cli-archive.\n"
    assert tenant_or_none("cli-archive").status == TenantStatus.ACTIVE
    assert http_get(host_of("cli-archive")).status_code == 200


@pytest.mark.parametrize("flags", [("--purge",), ("--yes",)], ids=["purge-only", "yes-only"])
def test_delete_needs_purge_and_yes_together(live_db, flags):
    make_tenant(live_db, "cli-keep")
    before = platform_state()

    line = failed(tenants("delete", "cli-keep", *flags), 1)

    assert "--yes" in line and "--purge" in line
    assert platform_state() == before
    assert tenant_or_none("cli-keep").status == TenantStatus.ACTIVE


def test_purge_drops_schema_rows_and_redis_keys(live_db, tenant_a):
    make_tenant(live_db, "cli-purge", domain="shop.cli-purge.example")
    redis = get_redis_connection("default")
    own_keys = ["t:cli_purge:cache:x", "t:cli_purge:ratelimit:y"]
    other_keys = [
        "t:alpha:cache:cli-purge-test",  # another tenant's
        "t:cli_purge_2:cache:x",  # a tenant whose schema name merely starts alike
    ]
    for key in own_keys + other_keys:
        redis.set(key, "1")
    try:
        out = succeeded(tenants("delete", "cli-purge", "--purge", "--yes"))

        assert re.fullmatch(
            r"Purged cli-purge: dropped schema cli_purge \(\d+ tables, \d+ rows\), deleted 2 "
            r"Redis keys, 0 channel groups, 0 files and 0 queued messages\.\n",
            out,
        ), out
        assert tenant_or_none("cli-purge") is None
        with public_scope():
            assert not Domain.objects.filter(domain__contains="cli-purge").exists()
        assert not schema_exists("cli_purge")
        assert redis.exists(*own_keys) == 0
        assert redis.exists(*other_keys) == len(other_keys)
        response = http_get(host_of("cli-purge"))
        assert (response.status_code, error_code(response)) == (404, "tenant_not_found")
    finally:
        redis.delete(*other_keys)


# ----------------------------------------------------------------------------- domains


def test_domains_add_set_primary_remove_and_list(live_db):
    make_tenant(live_db, "cli-domains")
    subdomain = host_of("cli-domains")

    out = succeeded(tenants("domains", "add", "cli-domains", "Shop.CLI-Domains.Example"))
    assert out == "Added shop.cli-domains.example to cli-domains.\n"
    assert domains_of("cli-domains") == {subdomain: True, "shop.cli-domains.example": False}
    assert as_json(tenants("domains", "list", "cli-domains", "--json")) == [
        {"domain": subdomain, "is_primary": True},
        {"domain": "shop.cli-domains.example", "is_primary": False},
    ]
    assert http_get("shop.cli-domains.example").json()["tenant"] == "cli-domains"

    out = succeeded(tenants("domains", "set-primary", "cli-domains", "shop.cli-domains.example"))
    assert out == "shop.cli-domains.example is now the primary domain of cli-domains.\n"
    assert domains_of("cli-domains") == {subdomain: False, "shop.cli-domains.example": True}
    listed = succeeded(tenants("domains", "list", "cli-domains"))
    assert listed == f"shop.cli-domains.example (primary)\n{subdomain}\n"

    out = succeeded(tenants("domains", "remove", "cli-domains", subdomain))
    assert out == f"Removed {subdomain} from cli-domains.\n"
    assert domains_of("cli-domains") == {"shop.cli-domains.example": True}
    assert http_get(subdomain).status_code == 404

    out = succeeded(
        tenants("domains", "add", "cli-domains", "www.cli-domains.example", "--primary")
    )
    assert out == "Added www.cli-domains.example (primary) to cli-domains.\n"
    assert domains_of("cli-domains") == {
        "shop.cli-domains.example": False,
        "www.cli-domains.example": True,
    }


DOMAIN_REFUSALS = [
    *(
        pytest.param(
            ("add", "cli-dom-errors", ip), "an IP address never routes to a tenant", id=f"ip-{ip}"
        )
        for ip in (
            "127.0.0.1",
            "127.0.0.1.",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "10.0.0.0x1",
        )
    ),
    pytest.param(
        ("add", "cli-dom-errors", "shop.cli-dom-errors.example"),
        "The domain 'shop.cli-dom-errors.example' is already in use by tenant 'cli-dom-errors'.",
        id="duplicate",
    ),
    pytest.param(
        ("add", "cli-dom-errors", f"alpha.{BASE}"),
        f"Subdomains of {BASE} belong to the tenant of that name",
        id="other-slugs-subdomain",
    ),
    pytest.param(
        ("remove", "cli-dom-errors", "shop.cli-dom-errors.example"),
        "'shop.cli-dom-errors.example' is the primary domain of 'cli-dom-errors'",
        id="remove-primary",
    ),
    pytest.param(
        ("remove", "cli-dom-errors", "nowhere.example"),
        "Tenant 'cli-dom-errors' has no domain 'nowhere.example'.",
        id="remove-unknown",
    ),
    pytest.param(
        ("set-primary", "cli-dom-errors", f"alpha.{BASE}"),
        f"Tenant 'cli-dom-errors' has no domain 'alpha.{BASE}'.",
        id="set-primary-someone-elses",
    ),
]


@pytest.mark.parametrize(("args", "message"), DOMAIN_REFUSALS)
def test_domain_refusals_are_one_line_and_change_nothing(live_db, tenant_a, args, message):
    make_tenant(live_db, "cli-dom-errors", domain="shop.cli-dom-errors.example")
    before = platform_state()

    line = failed(tenants("domains", *args), 1)

    assert line.startswith("CommandError: ") and message in line
    assert platform_state() == before


# ----------------------------------------------------------------------------- migrate


def test_migrate_reports_everything_up_to_date(live_db, tenant_a, tenant_b):
    total = all_schemas_to_migrate()

    out = succeeded(tenants("migrate"))
    assert out.startswith("Migrating public schema…\n")
    assert re.search(
        rf"^Checked {total} schemas in [\d.]+ s: 0 migrated, {total} already up to date, "
        r"0 failed\.$",
        out,
        re.MULTILINE,
    ), out

    report = as_json(tenants("migrate", "--json"))
    assert (report["checked"], report["migrated"], report["failed"]) == (total, [], {})


def test_migrate_plan_and_dry_run_change_nothing_then_djangos_path_migrates(live_db):
    make_tenant(live_db, "cli-plan")
    total = all_schemas_to_migrate()
    forget_sessions_migration("cli_plan", drop_table=True)

    out = succeeded(tenants("migrate", "--plan"))
    assert "Group 1: 1 schema(s) (cli_plan), 1 migration(s):\n" in out
    assert "  sessions.0001_initial: replay\n" in out
    assert '    CREATE TABLE "django_session"' in out
    assert out.endswith(
        f"Plan: {total} schemas checked, 1 behind in 1 group(s); nothing changed.\n"
    )

    out = succeeded(tenants("migrate", "--dry-run"))
    assert re.search(
        rf"^Dry run \(nothing changed\): checked {total} schemas in [\d.]+ s: 1 would migrate, "
        rf"{total - 1} already up to date, 0 failed\.$",
        out.splitlines()[-1],
    ), out
    assert not records_sessions_migration("cli_plan") and not has_session_table("cli_plan")

    report = as_json(tenants("migrate", "--django", "--json"))
    assert (report["migrated"], report["failed"]) == (["cli_plan"], {})
    assert records_sessions_migration("cli_plan") and has_session_table("cli_plan")


def test_migrate_one_tenant_that_is_behind(live_db):
    make_tenant(live_db, "cli-behind")
    make_tenant(live_db, "cli-behind-too")
    forget_sessions_migration("cli_behind", drop_table=True)
    forget_sessions_migration("cli_behind_too", drop_table=True)  # behind, but not asked for

    out = succeeded(tenants("-v", "2", "migrate", "--tenant", "cli-behind"))

    assert "migrated cli_behind\n" in out
    assert "Checked 1 schemas" in out and "1 migrated, 0 already up to date, 0 failed." in out
    assert records_sessions_migration("cli_behind")
    assert has_session_table("cli_behind")
    assert not records_sessions_migration("cli_behind_too")
    assert not has_session_table("cli_behind_too")


def test_migrate_in_parallel_brings_behind_tenants_back(live_db):
    for slug in ("cli-par-one", "cli-par-two"):
        make_tenant(live_db, slug)
    total = all_schemas_to_migrate()
    for schema in ("cli_par_one", "cli_par_two"):
        forget_sessions_migration(schema, drop_table=True)

    report = as_json(tenants("migrate", "--parallel", "2", "--json"))

    assert report["checked"] == total
    assert report["migrated"] == ["cli_par_one", "cli_par_two"]
    assert report["failed"] == {}
    for schema in ("cli_par_one", "cli_par_two"):
        assert records_sessions_migration(schema)
        assert has_session_table(schema)


def test_migrate_failure_in_one_schema_does_not_stop_the_others(live_db):
    # Schemas are migrated in slug order: the failing one comes first.
    make_tenant(live_db, "cli-mig-a-broken")
    make_tenant(live_db, "cli-mig-b-behind")
    total = all_schemas_to_migrate()
    forget_sessions_migration("cli_mig_a_broken", drop_table=False)
    forget_sessions_migration("cli_mig_b_behind", drop_table=True)

    result = tenants("migrate")

    assert result.returncode == 1
    assert re.search(
        rf"^Checked {total} schemas in [\d.]+ s: 1 migrated, {total - 2} already up to date, "
        r"1 failed\.$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("failed: cli_mig_a_broken: ")
    assert "django_session" in errors[0] and "already exists" in errors[0]
    assert errors[1] == (
        "CommandError: 1 schema(s) failed to migrate; fix and re-run `tenants migrate` to "
        "finish them."
    )
    assert records_sessions_migration("cli_mig_b_behind")
    assert has_session_table("cli_mig_b_behind")
    assert not records_sessions_migration("cli_mig_a_broken")  # rolled back, nothing half-done

    with connection.cursor() as cursor:  # the operator's fix
        cursor.execute("DROP TABLE cli_mig_a_broken.django_session")
    out = succeeded(tenants("migrate"))

    assert f"1 migrated, {total - 1} already up to date, 0 failed." in out
    assert records_sessions_migration("cli_mig_a_broken")
    assert has_session_table("cli_mig_a_broken")


def test_migrate_in_parallel_reports_a_failing_tenant_and_a_rerun_finishes(live_db):
    for slug in ("cli-pf-one", "cli-pf-broken", "cli-pf-three"):
        make_tenant(live_db, slug)
    forget_sessions_migration("cli_pf_one", drop_table=True)
    forget_sessions_migration("cli_pf_broken", drop_table=False)  # re-applying it fails
    forget_sessions_migration("cli_pf_three", drop_table=True)

    result = tenants("migrate", "--parallel", "2", "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["migrated"] == ["cli_pf_one", "cli_pf_three"]
    assert list(report["failed"]) == ["cli_pf_broken"]
    assert "django_session" in report["failed"]["cli_pf_broken"]
    assert "already exists" in report["failed"]["cli_pf_broken"]
    assert result.stderr.strip().endswith(
        "CommandError: 1 schema(s) failed to migrate; fix and re-run `tenants migrate` to "
        "finish them."
    )
    assert not records_sessions_migration("cli_pf_broken")

    with connection.cursor() as cursor:  # the operator's fix
        cursor.execute("DROP TABLE cli_pf_broken.django_session")
    rerun = as_json(tenants("migrate", "--parallel", "2", "--json"))

    assert (rerun["migrated"], rerun["failed"]) == (["cli_pf_broken"], {})
    assert records_sessions_migration("cli_pf_broken") and has_session_table("cli_pf_broken")


# ----------------------------------------------------------------------------- pool


def test_pool_status_and_fill(live_db):
    target = settings.ATRIUM_SPARE_POOL_SIZE
    before = spare_schemas_in_catalog()
    try:
        status = as_json(tenants("pool", "status", "--json"))
        assert status == {
            "spares": len(before),
            "stale": 0,
            "target": target,
            "template": True,
            "schemas": before,
        }

        wanted = len(before) + 2
        out = succeeded(tenants("pool", "fill", str(wanted)))
        assert out == f"Cloned 2 spare schema(s); the pool holds {wanted} or more.\n"
        after = spare_schemas_in_catalog()
        assert len(after) == wanted and set(before) < set(after)

        stale = sorted(set(after) - set(before))[0]
        forget_sessions_migration(stale, drop_table=True)
        out = succeeded(tenants("pool", "status"))
        assert out == (
            f"{wanted} spare schema(s) ready (target {target}), 1 behind on migrations; "
            "template present.\n"
        )

        out = succeeded(tenants("pool", "fill", str(wanted - 1)))
        assert out.startswith("Cloned 0 spare schema(s)")
        assert spare_schemas_in_catalog() == after
    finally:
        with connection.cursor() as cursor:  # back to the pool the other tests expect
            for spare in set(spare_schemas_in_catalog()) - set(before):
                cursor.execute(f"DROP SCHEMA {quote_ident(spare)} CASCADE")


# ----------------------------------------------------------------------------- demo_tenants

DEMO_LOGINS = {
    "acme": ("owner@acme.test", "acme-demo-Passw0rd"),
    "globex": ("owner@globex.test", "globex-demo-Passw0rd"),
}


def test_demo_tenants_are_created_once_with_working_logins(live_db):
    live_db.extend(DEMO_LOGINS)
    assert not any(tenant_or_none(slug) for slug in DEMO_LOGINS)

    first = succeeded(run_cli("demo_tenants")).splitlines()
    after_first = platform_state()
    second = succeeded(run_cli("demo_tenants")).splitlines()
    assert platform_state() == after_first

    for lines, note in ((first, "created"), (second, "exists")):
        assert len(lines) == len(DEMO_LOGINS)
        for line, (slug, (email, password)) in zip(lines, DEMO_LOGINS.items(), strict=True):
            assert line.split()[:2] == [slug, note]
            assert f" {url_of(host_of(slug))} " in line
            assert line.endswith(f"login: {email} / {password}")
    for slug, (email, password) in DEMO_LOGINS.items():
        tenant = tenant_or_none(slug)
        assert tenant.status == TenantStatus.ACTIVE
        with tenant_scope(tenant):
            assert User.objects.count() == 1
            assert authenticate(email=email, password=password) is not None


# ----------------------------------------------------------------------------- CLI gaps


def test_a_second_suspend_activate_or_delete_says_nothing_changed(live_db):
    make_tenant(live_db, "cli-twice")
    succeeded(tenants("suspend", "cli-twice", "--reason", "unpaid"))
    before = tenant_or_none("cli-twice")

    out = succeeded(tenants("suspend", "cli-twice", "--reason", "other"))
    assert out.startswith("cli-twice is already suspended (unpaid) since ")
    assert out.endswith("; nothing changed.\n")
    data = as_json(tenants("suspend", "cli-twice", "--json"))
    assert (data["status"], data["changed"]) == ("suspended", False)
    after = tenant_or_none("cli-twice")
    assert (after.status_reason, after.updated_at) == ("unpaid", before.updated_at)

    succeeded(tenants("activate", "cli-twice"))
    assert succeeded(tenants("activate", "cli-twice")) == (
        "cli-twice is already active; nothing changed.\n"
    )
    succeeded(tenants("delete", "cli-twice"))
    out = succeeded(tenants("delete", "cli-twice"))
    assert out.startswith("cli-twice is already archived; nothing changed.")


def test_every_subcommand_that_changes_something_speaks_json(live_db):
    make_tenant(live_db, "cli-jsonall")
    host = "shop.cli-jsonall.example"

    data = as_json(tenants("suspend", "cli-jsonall", "--reason", "audit", "--json"))
    assert (data["slug"], data["status"], data["status_reason"], data["changed"]) == (
        "cli-jsonall",
        "suspended",
        "audit",
        True,
    )
    data = as_json(tenants("activate", "cli-jsonall", "--json"))
    assert (data["status"], data["changed"]) == ("active", True)

    data = as_json(tenants("domains", "add", "cli-jsonall", host.upper(), "--json"))
    assert (data["slug"], data["domain"], data["is_primary"]) == ("cli-jsonall", host, False)
    assert data["domains"] == [
        {"domain": host_of("cli-jsonall"), "is_primary": True},
        {"domain": host, "is_primary": False},
    ]
    data = as_json(tenants("domains", "set-primary", "cli-jsonall", host, "--json"))
    assert (data["domain"], data["is_primary"]) == (host, True)
    data = as_json(tenants("domains", "remove", "cli-jsonall", host_of("cli-jsonall"), "--json"))
    assert (data["domain"], data["removed"]) == (host_of("cli-jsonall"), True)
    assert data["domains"] == [{"domain": host, "is_primary": True}]

    data = as_json(tenants("delete", "cli-jsonall", "--json"))
    assert (data["status"], data["changed"]) == ("archived", True)
    data = as_json(tenants("delete", "cli-jsonall", "--purge", "--yes", "--json"))
    assert (data["slug"], data["schema_name"], data["purged"]) == (
        "cli-jsonall",
        "cli_jsonall",
        True,
    )
    assert tenant_or_none("cli-jsonall") is None

    spares = len(spare_schemas_in_catalog())
    data = as_json(tenants("pool", "fill", str(spares), "--json"))
    assert data == {"cloned": 0, "spares": spares}


def test_django_options_work_after_the_subcommand(live_db):
    make_tenant(live_db, "cli-verbose")
    forget_sessions_migration("cli_verbose", drop_table=True)

    out = succeeded(tenants("migrate", "--tenant", "cli-verbose", "-v", "2"))

    assert "migrated cli_verbose\n" in out
    out = succeeded(tenants("migrate", "--tenant", "cli-verbose", "--verbosity", "0"))
    assert out == ""
    out = succeeded(tenants("domains", "list", "cli-verbose", "--traceback", "--no-color"))
    assert out == f"{host_of('cli-verbose')} (primary)\n"


def run_cli_with_input(text: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        input=text,
    )


def test_owner_password_from_stdin(live_db):
    live_db.append("cli-stdin")
    result = run_cli_with_input(
        OWNER_PASSWORD + "\n", "tenants", *create_args("cli-stdin", "--owner-password-stdin")
    )
    out = succeeded(result)
    assert "Password:" not in out and OWNER_PASSWORD not in out
    with tenant_scope(tenant_or_none("cli-stdin")):
        assert authenticate(email="owner@newco.test", password=OWNER_PASSWORD) is not None


@pytest.mark.parametrize(
    ("flags", "stdin", "message"),
    [
        (("--owner-password-stdin",), "", "read no password from standard input"),
        (("--owner-password-stdin",), "123\n", "Owner password refused"),
        (("--owner-password-prompt",), OWNER_PASSWORD + "\n", "needs a terminal"),
    ],
    ids=["stdin-empty", "stdin-weak", "prompt-without-terminal"],
)
def test_owner_password_refusals(live_db, flags, stdin, message):
    before = platform_state()
    line = failed(run_cli_with_input(stdin, "tenants", *create_args("cli-nopass", *flags)), 1)
    assert line.startswith("CommandError: ") and message in line
    assert platform_state() == before


def test_owner_password_prompt_on_a_terminal(live_db):
    """The password is typed at a prompt on a real pseudo-terminal, twice, never echoed."""
    live_db.append("cli-prompt")
    argv = [sys.executable, str(REPO_ROOT / "manage.py"), "tenants"]
    argv += create_args("cli-prompt", "--owner-password-prompt")
    fd, terminal = pty.openpty()
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, env=cli_env(), stdin=terminal, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    transcript = b""

    def read_until(marker: bytes) -> None:
        nonlocal transcript
        deadline = time.monotonic() + 60
        while marker not in transcript:
            assert time.monotonic() < deadline, transcript
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                transcript += os.read(fd, 4096)

    try:
        read_until(b"Owner password: ")
        os.write(fd, OWNER_PASSWORD.encode() + b"\n")
        read_until(b"Owner password (again): ")
        os.write(fd, OWNER_PASSWORD.encode() + b"\n")
        read_until(b"Owner:")
        assert process.wait(timeout=60) == 0, transcript
    finally:
        process.kill()
        os.close(fd)
    assert OWNER_PASSWORD.encode() not in transcript  # not echoed, not printed
    with tenant_scope(tenant_or_none("cli-prompt")):
        assert authenticate(email="owner@newco.test", password=OWNER_PASSWORD) is not None
