"""``tenants create`` killed with SIGKILL at chosen points of its run.

Each kill point is held still by a PostgreSQL lock the test takes first, so the kill lands
exactly there. Whatever the point, the database and Redis are left consistent: before the
commit nothing of the tenant exists (no schema, row, domain or Redis key) and running the
same command again creates it whole; after the commit the tenant is whole and working, the
same command is refused as a duplicate, and ``tenants pool fill`` tops the pool up again.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection

from atrium.platform.accounts.models import User
from atrium.tenants import pool
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import Tenant, TenantStatus
from tests import driver
from tests.faults.blocking import LockBlocker
from tests.fixtures import OWNER_PASSWORD, run_cli
from tests.test_provisioning import NOTHING, tenant_state

SLUG = "killed"
CREATE = (
    *("tenants", "create", SLUG, "--name", "Killed Co"),
    *("--owner-email", f"o@{SLUG}.test", "--owner-password", OWNER_PASSWORD),
)
WHOLE = {"tenant_rows": 1, "domain_rows": 1, "schema": True, "redis_keys": 0}


def spares() -> list[str]:
    with public_scope():
        return pool.spare_schemas()


def kill_create_at(blocker: LockBlocker) -> None:
    """Start ``tenants create``, wait until it waits for a lock of ``blocker``, SIGKILL it,
    then release the locks and wait until its orphaned backend has gone."""
    with driver.ManageCommand(*CREATE) as command:
        blocker.wait_until_blocked(command, "tenants create")
        command.kill()
        assert command.wait() == -9
    blocker.release()
    blocker.wait_for_orphan_to_end()


def assert_works() -> None:
    """The tenant is active and its owner signs in with the password given."""
    with public_scope():
        tenant = Tenant.objects.get(slug=SLUG)
    assert tenant.status == TenantStatus.ACTIVE
    with tenant_scope(tenant):
        owner = User.objects.get()
        assert authenticate(email=f"o@{SLUG}.test", password=OWNER_PASSWORD) == owner


def drop_spares() -> None:
    with public_scope(), connection.cursor() as cursor:
        for spare in pool.spare_schemas():
            cursor.execute(f'DROP SCHEMA "{spare}" CASCADE')


@pytest.mark.parametrize("source", ["spare", "clone"])
def test_killed_before_the_commit_leaves_nothing_and_a_rerun_creates_the_tenant(live_db, source):
    live_db.append(SLUG)
    if source == "clone":
        drop_spares()  # the live_db fixture fills the pool again at the end
    spares_before = spares()
    with LockBlocker() as blocker:
        # The owner insert into a claimed spare, or the copy of the template's tables, waits
        # for these locks: the tenant and domain rows and the schema exist by then, uncommitted.
        for schema in [*spares_before, settings.ATRIUM_TEMPLATE_SCHEMA]:
            blocker.hold(f'LOCK TABLE "{schema}".accounts_user IN ACCESS EXCLUSIVE MODE')
        kill_create_at(blocker)

    assert tenant_state(SLUG) == NOTHING
    assert spares() == spares_before  # a claimed spare is back under its own name

    rerun = run_cli(*CREATE)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert tenant_state(SLUG) == WHOLE
    assert_works()
    assert len(spares()) == settings.ATRIUM_SPARE_POOL_SIZE  # refilled after the commit


def test_killed_after_the_commit_leaves_a_whole_tenant_and_a_pool_to_top_up(live_db):
    live_db.append(SLUG)
    spares_before = spares()
    with LockBlocker() as blocker:
        # After its commit the command refills the spare pool under this advisory lock.
        blocker.hold("SELECT pg_advisory_xact_lock(hashtext('atrium:pool_fill'))")
        kill_create_at(blocker)

    assert tenant_state(SLUG) == WHOLE
    assert_works()
    # The claimed spare was not replaced, and no half-made spare was left.
    assert len(spares()) == len(spares_before) - 1
    assert set(spares()) < set(spares_before)

    again = run_cli(*CREATE)
    assert (again.returncode, again.stderr.strip()) == (
        1,
        f"CommandError: The slug {SLUG!r} is taken.",
    )
    assert tenant_state(SLUG) == WHOLE
    fill = run_cli("tenants", "pool", "fill", str(settings.ATRIUM_SPARE_POOL_SIZE))
    assert fill.returncode == 0, fill.stdout + fill.stderr
    assert len(spares()) == settings.ATRIUM_SPARE_POOL_SIZE
