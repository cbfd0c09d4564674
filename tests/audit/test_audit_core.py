"""The audit log's core: same transaction as the write, append-only in the database (every
tenant schema, clones included), secrets never stored, and the one retention path."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from atrium.platform.accounts.models import User
from atrium.platform.audit.models import AuditEvent
from atrium.platform.audit.services import Actor, audit_purge_expired, audit_record
from atrium.tenants.audit import (
    cli_operator,
    operator_scope,
    platform_audit_record,
)
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import PlatformAuditEvent


class Boom(Exception):
    pass


@pytest.mark.django_db
def test_an_entry_rolls_back_with_the_write_and_commits_with_it(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        with pytest.raises(Boom), transaction.atomic():
            owner.name = "Rolled Back"
            owner.save()
            audit_record("user.role_changed", target=owner, changes={"name": ["", "x"]})
            raise Boom
        assert not AuditEvent.objects.exists()
        with transaction.atomic():
            entry = audit_record("user.role_changed", target=owner, actor=owner)
        assert list(AuditEvent.objects.all()) == [entry]
        assert (entry.target_type, entry.target_id) == ("accounts.user", str(owner.pk))
        assert (entry.actor_type, entry.actor_id, entry.actor_label) == (
            "user",
            str(owner.pk),
            "owner@alpha.test",
        )


@pytest.mark.django_db
def test_the_database_refuses_update_and_delete(tenant_a, tenant_b):
    # Both tenants' schemas are clones of the template (or spares, themselves clones): the
    # trigger must have come along with the table.
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            entry = audit_record("catalog.imported", target_type="job", target_id="1")
            for sql in (
                "UPDATE audit_auditevent SET action = 'auth.login' WHERE id = %s",
                "DELETE FROM audit_auditevent WHERE id = %s",
            ):
                refused = pytest.raises(DatabaseError, match="Cannot update or delete")
                with refused, transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(sql, [entry.pk])
            # Through the ORM too.
            with pytest.raises(DatabaseError), transaction.atomic():
                AuditEvent.objects.filter(pk=entry.pk).update(action="auth.logout")
            assert AuditEvent.objects.get(pk=entry.pk).action == "catalog.imported"


@pytest.mark.django_db
def test_the_template_schema_itself_carries_the_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'audit_auditevent' AND NOT t.tgisinternal"
        )
        schemas = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'audit_auditevent' AND c.relkind = 'r'"
        )
        tables = {row[0] for row in cursor.fetchall()}
    assert "_template" in schemas
    assert schemas == tables  # every schema with the table has the trigger


@pytest.mark.django_db
def test_retention_deletes_only_expired_entries_through_its_own_path(tenant_a, settings):
    settings.ATRIUM_AUDIT_RETENTION_DAYS = 30
    with tenant_scope(tenant_a):
        old = audit_record("auth.login", actor=Actor.system())
        fresh = audit_record("auth.logout", actor=Actor.system())
        # Backdating is an UPDATE, which the trigger refuses: insert a backdated row instead.
        backdated = AuditEvent.objects.create(
            at=timezone.now() - timedelta(days=31), action="auth.login", actor_type="system"
        )
        assert audit_purge_expired() == 1
        assert set(AuditEvent.objects.values_list("pk", flat=True)) == {old.pk, fresh.pk}
        assert not AuditEvent.objects.filter(pk=backdated.pk).exists()
        # The trigger is back on after the purge.
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.all().delete()


@pytest.mark.django_db
def test_secrets_are_never_stored_and_values_are_plain(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        entry = audit_record(
            "user.role_changed",
            target=owner,
            changes={
                "password": ["pbkdf2$old", "pbkdf2$new"],
                "mfa_secret": ["A", "B"],
                "hashed_key": ["x", "y"],
                "token_version": [1, 2],
                "role": ["member", "admin"],
                "manager": [None, owner],
            },
        )
        entry.refresh_from_db()
    assert entry.changes == {"role": ["member", "admin"], "manager": [None, str(owner.pk)]}


@pytest.mark.django_db
def test_an_unknown_action_is_refused(tenant_a):
    with tenant_scope(tenant_a), pytest.raises(ValueError, match="ACTIONS"):
        audit_record("product.exploded")
    with pytest.raises(ValueError, match="PLATFORM_ACTIONS"):
        platform_audit_record("tenant.exploded")


@pytest.mark.django_db
def test_tasks_record_the_system_and_tenants_run_the_operator(tenant_a):
    with tenant_scope(tenant_a):
        assert audit_record("catalog.imported").actor_type == "system"
        with operator_scope(cli_operator()) as operator:
            entry = audit_record("catalog.imported")
    assert entry.actor_type == "operator"
    assert entry.actor_label == f"{operator.os_user}@{operator.host}"


@pytest.mark.django_db
def test_platform_entries_are_append_only_and_roll_back(tenant_a):
    with public_scope():
        # Committed entries of other tests (the session's tenants' creation) are there too.
        known = set(PlatformAuditEvent.objects.values_list("pk", flat=True))
        with pytest.raises(Boom), transaction.atomic():
            platform_audit_record("tenant.suspended", tenant=tenant_a)
            raise Boom
        assert set(PlatformAuditEvent.objects.values_list("pk", flat=True)) == known
        with operator_scope(cli_operator()) as operator:
            entry = platform_audit_record("tenant.suspended", tenant=tenant_a, details={"r": 1})
        assert (entry.tenant_slug, entry.tenant_id, entry.source) == ("alpha", tenant_a.pk, "cli")
        assert (entry.os_user, entry.host) == (operator.os_user, operator.host)
        assert entry.os_user and entry.host
        for sql in (
            "UPDATE tenants_platformauditevent SET action = 'x' WHERE id = %s",
            "DELETE FROM tenants_platformauditevent WHERE id = %s",
        ):
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as c:
                c.execute(sql, [entry.pk])
        assert PlatformAuditEvent.objects.get(pk=entry.pk).action == "tenant.suspended"
        # Outside any operator scope: the system.
        assert platform_audit_record("tenant.activated", tenant="alpha").source == "system"
