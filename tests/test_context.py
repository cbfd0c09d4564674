"""The one tenant context: schema switching, key prefixes, restoration, refusal without one."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from atrium.platform.accounts.models import User
from atrium.tenants.context import (
    NoTenantError,
    active_scope,
    current_tenant,
    public_scope,
    tenant_scope,
)
from atrium.tenants.keyspace import scoped_key


def real_search_path() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_scope_switches_schema_and_restores_it(tenant_a, tenant_b):
    with public_scope():
        assert real_search_path() == "public"
        with tenant_scope(tenant_a):
            assert real_search_path().startswith("alpha")
            assert current_tenant().slug == "alpha"
            with tenant_scope(tenant_b):
                assert real_search_path().startswith("beta")
            assert real_search_path().startswith("alpha")
            assert current_tenant().slug == "alpha"
        assert real_search_path() == "public"


@pytest.mark.django_db
def test_scope_is_restored_after_an_exception(tenant_a):
    with public_scope():
        with pytest.raises(ZeroDivisionError), tenant_scope(tenant_a):
            _ = 1 / 0
        assert real_search_path() == "public"
        assert active_scope().is_public


@pytest.mark.django_db
def test_each_tenant_sees_only_its_own_users(tenant_a, tenant_b):
    with tenant_scope(tenant_a):
        alpha_emails = set(User.objects.values_list("email", flat=True))
    with tenant_scope(tenant_b):
        beta_emails = set(User.objects.values_list("email", flat=True))
    assert alpha_emails == {"owner@alpha.test"}
    assert beta_emails == {"owner@beta.test"}


@pytest.mark.django_db
def test_savepoint_rollback_keeps_the_tenant_search_path(tenant_a):
    with tenant_scope(tenant_a):
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            User.objects.create_user(email="rolled@alpha.test")
            _ = 1 / 0
        assert real_search_path().startswith("alpha")
        assert not User.objects.filter(email="rolled@alpha.test").exists()


def test_tenant_scoped_code_raises_without_a_scope():
    with pytest.raises(NoTenantError):
        current_tenant()
    with pytest.raises(NoTenantError):
        scoped_key("cache", "x")


@pytest.mark.django_db
def test_public_scope_is_not_a_tenant():
    with public_scope(), pytest.raises(NoTenantError):
        current_tenant()


def test_tenant_scope_refuses_the_public_schema():
    from django_tenants.postgresql_backend.base import FakeTenant

    with pytest.raises(NoTenantError), tenant_scope(FakeTenant(schema_name="public")):
        pass


@pytest.mark.django_db
def test_keys_carry_the_tenant_prefix(tenant_a, tenant_b):
    from django_redis import get_redis_connection

    raw = get_redis_connection("default")
    with tenant_scope(tenant_a):
        assert scoped_key("lock", "import") == "t:alpha:lock:import"
        cache.set("greeting", "hello alpha")
    with tenant_scope(tenant_b):
        assert cache.get("greeting") is None  # B never reads A's entry
        cache.set("greeting", "hello beta")
    with tenant_scope(tenant_a):
        assert cache.get("greeting") == "hello alpha"
    with public_scope():
        assert scoped_key("routing", "v") == "p:routing:v"
    keys = {key.decode() for key in raw.keys("*greeting")}
    assert keys == {"t:alpha:cache:1:greeting", "t:beta:cache:1:greeting"}


def test_cache_outside_any_scope_raises():
    with pytest.raises(NoTenantError):
        cache.get("anything")
