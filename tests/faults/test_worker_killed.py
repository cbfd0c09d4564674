"""A Celery worker killed with SIGKILL in the middle of a catalog import.

The message was not acknowledged (``acks_late``), so the broker hands it out again once its
visibility timeout has passed, to another worker, and each product exists exactly once
afterwards. Killed while inserting the rows, the import's one transaction is rolled back and
the redelivered run creates them all; killed while its COMMIT waits, the database completes
the commit it was sent, and the redelivered run finds every row and updates it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from atrium.apps.catalog.models import Product
from atrium.platform.jobs.models import Job, JobStatus
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests import driver
from tests.faults.blocking import LockBlocker
from tests.fixtures import OWNER_PASSWORD

ROWS = 120  # the first half in the category "early", the second in "late"
MIDDLE = ROWS // 2 + 1  # the import is held while it inserts this row
# Seconds after which the second worker takes back a message nobody acknowledged.
VISIBILITY_TIMEOUT = 4


def import_csv() -> str:
    lines = ["sku,name,price,stock,status,category"]
    for n in range(1, ROWS + 1):
        category = "early" if n <= ROWS // 2 else "late"
        lines.append(f"BULK-{n:03d},Bulk item {n},{n}.50,{n},active,{category}")
    return "\n".join(lines) + "\n"


def skus(tenant: Tenant) -> Counter:
    with tenant_scope(tenant):
        return Counter(Product.all_objects.values_list("sku", flat=True))


def job_status(tenant: Tenant, job_id: str) -> str:
    with tenant_scope(tenant):
        return Job.objects.get(pk=job_id).status


def finished_job(server: driver.Server, host: str, token: str, job_id: str) -> dict | None:
    response = server.get(host, f"/api/v1/jobs/{job_id}/", token=token)
    assert response.status_code == 200, response.text
    job = response.json()
    return job if job["status"] in (JobStatus.SUCCEEDED, JobStatus.FAILED) else None


def hold_the_middle_row(blocker: LockBlocker, shop: Tenant) -> None:
    """An uncommitted product with the SKU of the middle row: the import's insert of that row
    waits on the unique index, half its rows written in its transaction."""
    blocker.hold(
        f'INSERT INTO "{shop.schema_name}".catalog_product (id, created_at, updated_at,'
        " is_deleted, name, slug, sku, description, price, stock, status, tags,"
        " review_count, category_id, owner_id) SELECT gen_random_uuid(), now(), now(),"
        " false, 'Holder', 'holder', %s, '', 1, 0, 'draft', '{}', 0, category.id, owner.id"
        f' FROM "{shop.schema_name}".catalog_category category,'
        f' "{shop.schema_name}".accounts_user owner WHERE category.slug = %s'
        " AND owner.email = %s",
        [f"BULK-{MIDDLE:03d}", "late", f"owner@{shop.slug}.test"],
    )


def hold_the_commit(blocker: LockBlocker, shop: Tenant) -> None:
    """Foreign keys are checked at COMMIT (Django makes them deferred), with FOR KEY SHARE
    on the category: holding the category FOR UPDATE stops the import in its COMMIT."""
    blocker.hold(
        f'SELECT 1 FROM "{shop.schema_name}".catalog_category WHERE slug = %s FOR UPDATE',
        ["late"],
    )


ALL_ROWS = Counter({f"BULK-{n:03d}": 1 for n in range(1, ROWS + 1)})


@pytest.mark.parametrize(
    ("hold", "left_by_the_kill", "redelivered_result"),
    [
        pytest.param(
            hold_the_middle_row, Counter(), {"created": ROWS, "updated": 0}, id="mid-rows"
        ),
        pytest.param(hold_the_commit, ALL_ROWS, {"created": 0, "updated": ROWS}, id="at-commit"),
    ],
)
def test_an_import_killed_mid_run_is_redelivered_and_each_product_exists_once(
    shop, hold, left_by_the_kill, redelivered_result
):
    host = f"{shop.slug}.localhost"
    with (
        driver.Worker(concurrency=1) as first,
        driver.Server(env=first.sender_env()) as server,
        LockBlocker() as blocker,
    ):
        token = server.login(host, f"owner@{shop.slug}.test", OWNER_PASSWORD)
        hold(blocker, shop)
        accepted = server.post(
            host,
            "/api/v1/catalog/imports/",
            token=token,
            files={"file": ("products.csv", import_csv(), "text/csv")},
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]

        blocker.wait_until_blocked(first, "the import")
        first.kill()  # the whole worker, main process and pool: nobody acknowledges
        blocker.release()
        blocker.wait_for_orphan_to_end()
        assert skus(shop) == left_by_the_kill
        assert job_status(shop, job_id) == JobStatus.RUNNING

        with driver.Worker(
            concurrency=1,
            queue=first.queue,
            env={"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)},
        ) as second:
            finished = driver.wait_for(
                lambda: finished_job(server, host, token, job_id),
                "the redelivered import to finish",
                second,
                timeout=60,
                interval=0.5,  # within the API's rate limits
            )
            assert finished["status"] == JobStatus.SUCCEEDED, (finished["error"], second.logs())
            assert finished["result"] == redelivered_result
            assert "catalog.import_products success" in second.output_since_start()

    assert skus(shop) == ALL_ROWS
