"""Group names: built from the active tenant only, within Channels' limits."""

from __future__ import annotations

import uuid

import pytest
from channels.layers import BaseChannelLayer

from atrium.tenants.context import NoTenantError, public_scope, tenant_scope
from atrium.tenants.keyspace import group_name
from atrium.tenants.models import Tenant


def test_group_names_start_with_the_tenant(tenant_a, tenant_b):
    user_id = uuid.uuid4()
    with tenant_scope(tenant_a):
        assert group_name("tenant") == "t.alpha.tenant"
        assert group_name("user", user_id) == f"t.alpha.user.{user_id}"
    with tenant_scope(tenant_b):
        assert group_name("tenant") == "t.beta.tenant"
    with public_scope():
        assert group_name("announcements") == "p.announcements"


def test_group_names_need_a_scope():
    with pytest.raises(NoTenantError):
        group_name("tenant")


@pytest.mark.parametrize(
    "part", ["t.beta.tenant", "a.b", "", "späti", "new\nline", "new\n", "sp ace", "*"]
)
def test_parts_cannot_smuggle_periods_or_foreign_characters(tenant_a, part):
    with tenant_scope(tenant_a), pytest.raises(ValueError):
        group_name("user", part)


def test_long_schema_names_stay_within_channels_limits_and_distinct():
    layer = BaseChannelLayer()
    tenant = Tenant(slug="x" * 63, schema_name="x" * 63)
    first, second = uuid.uuid4(), uuid.uuid4()
    with tenant_scope(tenant):
        names = [group_name("user", first), group_name("user", second), group_name("tenant")]
    for name in names:
        assert layer.require_valid_group_name(name)
        assert name.startswith("t." + "x" * 63 + ".")
    assert names[0] != names[1]
    assert names[2] == "t." + "x" * 63 + ".tenant"  # short enough to stay readable
