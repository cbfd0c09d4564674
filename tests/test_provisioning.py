"""Provisioning: fast creation from the pool or the template, validation, and no leftovers."""

import re

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import get_hasher
from django.db import connection
from django.test import override_settings
from django_redis import get_redis_connection

from atrium.platform.accounts.models import Role, User
from atrium.tenants import errors, naming, pool, provisioning
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.migrator import schemas_behind
from atrium.tenants.models import Domain, RetiredSchemaName, Tenant, TenantStatus


def tenant_state(slug: str) -> dict:
    """Everything a tenant can leave behind: rows, schema, Redis keys.

    A slug's schema is its own name, or that name with a random suffix when an earlier
    tenant with the slug had it (``naming.fresh_schema_name``): both are looked for.
    """
    base = naming.schema_name_for(slug)
    own_name = re.compile(rf"{re.escape(base)}(_[0-9a-f]{{8}})?")
    with public_scope(), connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", [base])
        schemas = [name for (name,) in cursor.fetchall() if own_name.fullmatch(name)]
        keys = [
            key
            for key in get_redis_connection("default").scan_iter(match=f"t:{base}*")
            if own_name.fullmatch(key.decode().split(":")[1])
        ]
        return {
            "tenant_rows": Tenant.objects.filter(slug=slug).count(),
            "domain_rows": Domain.objects.filter(domain__startswith=f"{slug}.").count(),
            "schema": bool(schemas),
            "redis_keys": len(keys),
        }


NOTHING = {"tenant_rows": 0, "domain_rows": 0, "schema": False, "redis_keys": 0}


def test_create_claims_a_spare_and_makes_a_working_owner(live_db):
    live_db.append("fresh-co")
    with public_scope():
        spares_before = pool.spare_schemas()
    result = provisioning.tenant_create(
        slug="fresh-co", name="Fresh Co", owner_email="Boss@Fresh.test"
    )
    assert result.schema_source == "spare"
    assert result.url == "http://fresh-co.localhost:8000/"
    tenant = result.tenant
    assert (tenant.schema_name, tenant.status) == ("fresh_co", TenantStatus.ACTIVE)
    with public_scope():
        spares_after = pool.spare_schemas()
        # The claimed spare is now the tenant's schema; the pool was topped up after commit.
        assert len(spares_after) == settings.ATRIUM_SPARE_POOL_SIZE
        assert set(spares_before) - set(spares_after)
        assert not schemas_behind(["fresh_co"])
    with tenant_scope(tenant):
        owner = User.objects.get()
        assert (owner.email, owner.role, owner.is_staff) == ("boss@fresh.test", Role.OWNER, True)
        assert owner.is_superuser  # the role's meaning, from User.apply_role
        assert owner.password.startswith("generated_sha256$")  # fast until the first sign-in
        # The one-time password logs in once and is then re-hashed with the default hasher.
        assert authenticate(email="boss@fresh.test", password=result.owner_password) == owner
        owner.refresh_from_db()
        assert owner.password.startswith(get_hasher().algorithm + "$")


def test_create_clones_the_template_when_the_pool_is_empty(live_db):
    live_db.append("cloned")
    with public_scope(), connection.cursor() as cursor:
        for spare in pool.spare_schemas():
            cursor.execute(f'DROP SCHEMA "{spare}" CASCADE')
    result = provisioning.tenant_create(slug="cloned", name="Cloned", owner_email="o@cloned.test")
    assert result.schema_source == "clone"
    with public_scope(), connection.cursor() as cursor:
        shape = (
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = %(s)s::regnamespace "
            "AND relkind IN ('r', 'i', 'S')), (SELECT count(*) FROM pg_constraint "
            "WHERE connamespace = %(s)s::regnamespace)"
        )
        cursor.execute(shape, {"s": settings.ATRIUM_TEMPLATE_SCHEMA})
        template_shape = cursor.fetchone()
        cursor.execute(shape, {"s": "cloned"})
        assert cursor.fetchone() == template_shape  # tables, indexes, sequences, constraints
    with tenant_scope(result.tenant):
        assert User.objects.count() == 1
        # The copied rows keep their ids and the sequences continue after them.
        from django.contrib.contenttypes.models import ContentType

        assert ContentType.objects.get_for_model(User).model == "user"
        ContentType.objects.create(app_label="clonecheck", model="thing")
    with public_scope():
        assert not schemas_behind(["cloned"])


def test_a_clone_follows_the_template_after_it_is_migrated(live_db):
    """What a clone copies is cached per template state: a migrated template is read again."""
    live_db.extend(["clone-before", "clone-after"])
    template = settings.ATRIUM_TEMPLATE_SCHEMA

    def empty_the_pool() -> None:  # each creation refills it (eager Celery in the tests)
        with public_scope(), connection.cursor() as cursor:
            for spare in pool.spare_schemas():
                cursor.execute(f'DROP SCHEMA "{spare}" CASCADE')

    empty_the_pool()
    before = provisioning.tenant_create(slug="clone-before", name="B", owner_email="o@b.test")
    assert before.schema_source == "clone"
    try:
        with public_scope(), connection.cursor() as cursor:  # what a migration would do
            cursor.execute(
                f'CREATE TABLE "{template}".late_table '
                "(id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)"
            )
            cursor.execute(f"INSERT INTO \"{template}\".late_table (note) VALUES ('seed')")
            cursor.execute(
                f'INSERT INTO "{template}".django_migrations (app, name, applied) '
                "VALUES ('catalog', '9999_late_table', now())"
            )
        empty_the_pool()
        after = provisioning.tenant_create(slug="clone-after", name="A", owner_email="o@a.test")
        assert after.schema_source == "clone"
        with public_scope(), connection.cursor() as cursor:
            cursor.execute("SELECT note FROM clone_after.late_table")
            assert cursor.fetchall() == [("seed",)]
            cursor.execute("INSERT INTO clone_after.late_table (note) VALUES ('x') RETURNING id")
            assert cursor.fetchone()[0] == 2  # the identity continues after the copied row
            assert not schema_exists_table("clone_before", "late_table")
    finally:
        with public_scope(), connection.cursor() as cursor:
            cursor.execute(f'DROP TABLE IF EXISTS "{template}".late_table')
            cursor.execute(
                f'DELETE FROM "{template}".django_migrations WHERE name = %s', ["9999_late_table"]
            )
        empty_the_pool()  # its spares were cloned with the late migration: not for others


def schema_exists_table(schema: str, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{schema}.{table}"])
        return cursor.fetchone()[0] is not None


def test_custom_domain_becomes_primary_and_subdomain_is_kept(live_db):
    live_db.append("custom")
    result = provisioning.tenant_create(
        slug="custom", name="Custom", owner_email="o@custom.test", domain="Shop.Custom.Example"
    )
    assert result.url == "http://shop.custom.example:8000/"
    with public_scope():
        domains = dict(
            Domain.objects.filter(tenant=result.tenant).values_list("domain", "is_primary")
        )
    assert domains == {"shop.custom.example": True, "custom.localhost": False}


@pytest.mark.parametrize("function_name", ["_create_schema", "_create_owner"])
def test_failure_at_any_step_leaves_nothing_behind(live_db, monkeypatch, function_name):
    live_db.append("doomed")
    with public_scope():
        spares_before = pool.spare_schemas()
    original = getattr(provisioning, function_name)

    def run_then_fail(*args, **kwargs):
        original(*args, **kwargs)  # the step really happens, then the flow dies
        raise RuntimeError("injected failure")

    monkeypatch.setattr(provisioning, function_name, run_then_fail)
    with pytest.raises(RuntimeError, match="injected failure"):
        provisioning.tenant_create(slug="doomed", name="Doomed", owner_email="o@doomed.test")
    assert tenant_state("doomed") == NOTHING
    with public_scope():
        assert pool.spare_schemas() == spares_before  # the claimed spare is back


def test_failure_in_the_final_status_update_leaves_nothing_behind(live_db, monkeypatch):
    live_db.append("late-fail")
    original_save = Tenant.save

    def save_then_fail(self, *args, **kwargs):
        if kwargs.get("update_fields") == ["status", "updated_at"]:
            raise RuntimeError("injected failure at activation")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Tenant, "save", save_then_fail)
    with pytest.raises(RuntimeError, match="activation"):
        provisioning.tenant_create(slug="late-fail", name="Late", owner_email="o@late.test")
    monkeypatch.undo()
    assert tenant_state("late-fail") == NOTHING


@pytest.mark.parametrize(
    ("slug", "error"),
    [
        ("a", errors.SlugInvalid),
        ("1abc", errors.SlugInvalid),
        ("Abc", errors.SlugInvalid),
        ("ab_c", errors.SlugInvalid),
        ("abc-", errors.SlugInvalid),
        ("a" * 64, errors.SlugInvalid),
        ("-abc", errors.SlugInvalid),
        ("public", errors.SlugReserved),
        ("www", errors.SlugReserved),
        ("admin", errors.SlugReserved),
        ("api", errors.SlugReserved),
        ("pg-catalog", errors.SlugReserved),
        ("alpha", errors.SlugTaken),
    ],
)
@pytest.mark.django_db
def test_bad_slugs_are_refused_and_change_nothing(tenant_a, slug, error):
    with public_scope():
        before = Tenant.objects.count()
    with pytest.raises(error):
        provisioning.tenant_create(slug=slug, name="X", owner_email="o@x.test")
    with public_scope():
        assert Tenant.objects.count() == before


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"domain": "alpha.localhost"}, errors.DomainInvalid),  # another slug's subdomain
        ({"domain": "localhost"}, errors.DomainInvalid),  # the platform host
        ({"domain": "not a host"}, errors.DomainInvalid),
        ({"domain": "shop.example:8080"}, errors.DomainInvalid),
        ({"owner_email": "not-an-email"}, errors.InvalidInput),
        ({"plan": "platinum"}, errors.InvalidInput),
        ({"name": "  "}, errors.InvalidInput),
        ({"owner_password": "123"}, errors.InvalidInput),
    ],
)
@pytest.mark.django_db
def test_bad_input_is_refused(kwargs, error):
    arguments = {"slug": "newco", "name": "New Co", "owner_email": "o@newco.test", **kwargs}
    with pytest.raises(error):
        provisioning.tenant_create(**arguments)
    assert tenant_state("newco") == NOTHING


def test_taken_domain_is_refused(live_db):
    live_db.append("first")
    provisioning.tenant_create(
        slug="first", name="F", owner_email="o@f.test", domain="shared.example"
    )
    with pytest.raises(errors.DomainTaken):
        provisioning.tenant_create(
            slug="second", name="S", owner_email="o@s.test", domain="SHARED.example"
        )
    assert tenant_state("second") == NOTHING


def test_missing_template_is_a_clear_error(live_db):
    elsewhere = override_settings(
        ATRIUM_TEMPLATE_SCHEMA="_no_such_template", ATRIUM_SPARE_SCHEMA_PREFIX="_no_such_spare_"
    )
    with elsewhere, pytest.raises(errors.TemplateNotReady, match="tenants migrate"):
        provisioning.tenant_create(slug="orphan", name="O", owner_email="o@o.test")
    assert tenant_state("orphan") == NOTHING


@pytest.mark.django_db
def test_no_foreign_key_crosses_a_schema_boundary(tenant_a, tenant_b):
    """Every foreign key stays inside its schema: no tenant table references a public one
    (nor another tenant's), and no public table references a tenant schema. What Citus'
    schema-based sharding needs to place each tenant schema on any node (docs/scaling.md)."""
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "WHERE k.contype = 'f' AND c.relnamespace = ANY(%s::regnamespace[])",
            [[settings.ATRIUM_TEMPLATE_SCHEMA, tenant_a.schema_name]],
        )
        assert cursor.fetchone()[0] > 10  # the check below has foreign keys to look at
        cursor.execute(
            "SELECT c.relnamespace::regnamespace::text, k.conname, "
            "f.relnamespace::regnamespace::text FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class f ON f.oid = k.confrelid "
            "WHERE k.contype = 'f' AND c.relnamespace <> f.relnamespace "
            "AND c.relnamespace::regnamespace::text NOT LIKE 'pg\\_%%' "
            "AND c.relnamespace::regnamespace::text <> 'information_schema'"
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_a_schema_name_is_never_given_to_a_second_tenant(tenant_a):
    """A purged tenant's name (retired), a live tenant's and a stray schema's are all taken."""
    with public_scope():
        assert naming.fresh_schema_name("unused-name") == "unused_name"
        RetiredSchemaName.objects.create(name="reborn")
        with connection.cursor() as cursor:
            cursor.execute('CREATE SCHEMA "stray"')
        for slug, taken in (("reborn", "reborn"), ("stray", "stray"), ("alpha", "alpha")):
            name = naming.fresh_schema_name(slug)
            assert re.fullmatch(rf"{taken}_[0-9a-f]{{8}}", name), name
        long_slug = "a" * 63
        assert len(naming.fresh_schema_name(long_slug)) == 63
        RetiredSchemaName.objects.create(name="a" * 63)
        assert re.fullmatch(r"a{54}_[0-9a-f]{8}", naming.fresh_schema_name(long_slug))
