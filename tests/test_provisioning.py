"""Provisioning: fast creation from the pool or the template, validation, and no leftovers."""

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import get_hasher
from django.db import connection
from django.test import override_settings
from django_redis import get_redis_connection

from atrium.platform.accounts.models import Role, User
from atrium.tenants import errors, provisioning
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.migrator import schemas_behind
from atrium.tenants.models import Domain, Tenant, TenantStatus

from .conftest import schema_exists


def tenant_state(slug: str) -> dict:
    """Everything a tenant can leave behind: rows, schema, Redis keys."""
    schema = provisioning.schema_name_for(slug)
    with public_scope():
        return {
            "tenant_rows": Tenant.objects.filter(slug=slug).count(),
            "domain_rows": Domain.objects.filter(domain__startswith=f"{slug}.").count(),
            "schema": schema_exists(schema),
            "redis_keys": len(get_redis_connection("default").keys(f"t:{schema}:*")),
        }


NOTHING = {"tenant_rows": 0, "domain_rows": 0, "schema": False, "redis_keys": 0}


def test_create_claims_a_spare_and_makes_a_working_owner(live_db):
    live_db.append("fresh-co")
    with public_scope():
        spares_before = provisioning.spare_schemas()
    result = provisioning.tenant_create(
        slug="fresh-co", name="Fresh Co", owner_email="Boss@Fresh.test"
    )
    assert result.schema_source == "spare"
    assert result.url == "http://fresh-co.localhost:8000/"
    tenant = result.tenant
    assert (tenant.schema_name, tenant.status) == ("fresh_co", TenantStatus.ACTIVE)
    with public_scope():
        spares_after = provisioning.spare_schemas()
        # The claimed spare is now the tenant's schema; the pool was topped up after commit.
        assert len(spares_after) == settings.ATRIUM_SPARE_POOL_SIZE
        assert set(spares_before) - set(spares_after)
        assert not schemas_behind(["fresh_co"])
    with tenant_scope(tenant):
        owner = User.objects.get()
        assert (owner.email, owner.role, owner.is_staff) == ("boss@fresh.test", Role.OWNER, True)
        # The one-time password logs in once and is then re-hashed with the default hasher.
        assert authenticate(email="boss@fresh.test", password=result.owner_password) == owner
        owner.refresh_from_db()
        assert owner.password.startswith(get_hasher().algorithm + "$")


def test_create_clones_the_template_when_the_pool_is_empty(live_db):
    live_db.append("cloned")
    with public_scope(), connection.cursor() as cursor:
        for spare in provisioning.spare_schemas():
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
        spares_before = provisioning.spare_schemas()
    original = getattr(provisioning, function_name)

    def run_then_fail(*args, **kwargs):
        original(*args, **kwargs)  # the step really happens, then the flow dies
        raise RuntimeError("injected failure")

    monkeypatch.setattr(provisioning, function_name, run_then_fail)
    with pytest.raises(RuntimeError, match="injected failure"):
        provisioning.tenant_create(slug="doomed", name="Doomed", owner_email="o@doomed.test")
    assert tenant_state("doomed") == NOTHING
    with public_scope():
        assert provisioning.spare_schemas() == spares_before  # the claimed spare is back


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
