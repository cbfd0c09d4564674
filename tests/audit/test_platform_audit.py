"""The platform audit log: every operator action through the CLI (with the OS user and
host) and the platform admin (with the signed-in operator), and ``tenants audit``."""

import getpass
import json
import socket

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from atrium.platform.audit.models import AuditEvent
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import PlatformAuditEvent, Tenant
from tests.fixtures import run_cli

BASE = "localhost"


def tenants(*args: str) -> str:
    result = run_cli("tenants", *args)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def audit_json(*args: str) -> list[dict]:
    return json.loads(tenants("audit", *args, "--json"))


@pytest.mark.timeout(1200)  # a dozen CLI processes, each starting Django
def test_cli_actions_are_recorded_with_the_os_user_and_host(live_db):
    slug = "audit-cli"
    live_db.append(slug)
    host = f"shop.{slug}.example"
    tenants("create", slug, "--name", "Audit CLI", "--owner-email", "o@audit-cli.test")
    tenants("suspend", slug, "--reason", "unpaid")
    tenants("activate", slug)
    tenants("domains", "add", slug, host)
    tenants("domains", "set-primary", slug, host)
    tenants("domains", "remove", slug, f"{slug}.{BASE}")
    tenants("plan", slug, "pro")
    tenants("cors", "add", slug, "https://app.example.com")
    tenants("run", slug, "--", "check")
    tenants("delete", slug)

    entries = audit_json(slug)
    assert [e["action"] for e in entries] == [  # newest first
        "tenant.archived",
        "tenant.run",
        "tenant.cors_changed",
        "tenant.plan_changed",
        "domain.removed",
        "domain.primary_set",
        "domain.added",
        "tenant.activated",
        "tenant.suspended",
        "tenant.created",
    ]
    who = {(e["actor"], e["os_user"], e["host"]) for e in entries}
    assert who == {(getpass.getuser(), getpass.getuser(), socket.gethostname())}
    assert set(entries[0]) == {"at", "action", "tenant", "actor", "os_user", "host", "details"}
    assert {e["tenant"] for e in entries} == {slug}
    by_action = {e["action"]: e["details"] for e in entries}
    assert by_action["tenant.suspended"] == {"status": ["active", "suspended"], "reason": "unpaid"}
    assert by_action["tenant.plan_changed"] == {"plan": ["free", "pro"]}
    assert by_action["domain.added"] == {"domain": host, "primary": False}
    assert by_action["tenant.run"] == {"command": ["check"], "status": "ok", "error": None}

    # --since: an age or a time; the text form names the operator.
    assert audit_json(slug, "--since", "1h") == entries
    assert audit_json(slug, "--since", "2999-01-01") == []
    text = tenants("audit", slug)
    assert "tenant.created" in text and f"{getpass.getuser()}@{socket.gethostname()}" in text
    refused = run_cli("tenants", "audit", "--since", "last tuesday")
    assert refused.returncode == 1 and "--since" in refused.stderr

    # The purge leaves its deletion record, with the counts, after the tenant is gone.
    purged = json.loads(tenants("delete", slug, "--purge", "--yes", "--json"))
    assert purged["purged"]
    [record] = [e for e in audit_json(slug) if e["action"] == "tenant.purged"]
    assert record["details"]["schema_name"] == purged["schema_name"]
    assert {"redis_keys_deleted", "files_deleted", "channel_groups_deleted"} <= set(
        record["details"]
    )
    # Without a slug: every tenant's entries.
    assert any(e["tenant"] == slug for e in audit_json())


def test_tenants_run_records_the_operator_in_the_tenants_own_log(live_db, tenant_a):
    with tenant_scope(tenant_a):
        before = AuditEvent.objects.count()
    code = (
        "from atrium.platform.audit.services import audit_record; "
        "audit_record('catalog.imported', target_type='job', target_id='cli')"
    )
    tenants("run", "alpha", "--", "shell", "-c", code)
    with tenant_scope(tenant_a):
        entry = AuditEvent.objects.get(target_id="cli")
        # Committed by the subprocess: it stays (append-only), so the count moved by one.
        assert AuditEvent.objects.count() == before + 1
    assert (entry.actor_type, entry.actor_label) == (
        "operator",
        f"{getpass.getuser()}@{socket.gethostname()}",
    )
    [run] = [e for e in audit_json("alpha") if e["action"] == "tenant.run"][:1]
    assert run["details"]["command"][:2] == ["shell", "-c"]


@pytest.mark.django_db
def test_platform_admin_changes_are_recorded_as_the_operator(tenant_b):
    with public_scope():
        operator = get_user_model().objects.create_superuser(
            email="ops@platform.test", password="Ops-Password-1234"
        )
    client = Client(HTTP_HOST=BASE)
    client.force_login(operator)
    changelist = "/admin/tenants/tenant/"
    response = client.post(
        changelist, {"action": "suspend_tenants", "_selected_action": [str(tenant_b.pk)]}
    )
    assert response.status_code == 302
    response = client.post(
        f"/admin/tenants/tenant/{tenant_b.pk}/change/",
        {
            "name": tenant_b.name,
            "plan": "enterprise",
            "domains-TOTAL_FORMS": "0",
            "domains-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    with public_scope():
        entries = list(
            PlatformAuditEvent.objects.filter(tenant_slug="beta", source="admin").order_by("at")
        )
        assert Tenant.objects.get(pk=tenant_b.pk).plan == "enterprise"
    assert [(e.action, e.actor, e.os_user) for e in entries] == [
        ("tenant.suspended", "ops@platform.test", ""),
        ("tenant.plan_changed", "ops@platform.test", ""),
    ]
    # The log itself, read-only in the platform admin.
    listing = client.get("/admin/tenants/platformauditevent/")
    assert listing.status_code == 200 and b"tenant.plan_changed" in listing.content
    assert client.get("/admin/tenants/platformauditevent/add/").status_code == 403
