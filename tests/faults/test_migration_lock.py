"""Requests served while a migration changes a table: a clean 503 with Retry-After.

A migration holds an ACCESS EXCLUSIVE lock on the table it changes until its schema's
transaction commits (milliseconds on the replay path). A request that needs that table
waits for it at most ``DB_LOCK_TIMEOUT`` and then answers 503 with ``Retry-After``, never
500 and never an endless wait; what doesn't touch the table answers as usual, and the
table answers again as soon as the migration commits.
"""

from __future__ import annotations

import psycopg

from atrium.tenants.migrator import quote_ident
from tests import driver
from tests.faults.blocking import connection_params
from tests.fixtures import OWNER_PASSWORD

PRODUCTS = "/api/v1/catalog/products/"
CATEGORIES = "/api/v1/catalog/categories/"


def test_a_table_locked_by_a_migration_answers_503_with_retry_after(shop):
    host = f"{shop.slug}.localhost"
    with driver.Server(env={"DB_LOCK_TIMEOUT": "0.3"}) as server:
        token = server.login(host, f"owner@{shop.slug}.test", OWNER_PASSWORD)
        migration = psycopg.connect(**connection_params(), autocommit=False)
        try:
            # What a migration's transaction holds while it alters catalog_product.
            migration.execute(
                f"LOCK TABLE {quote_ident(shop.schema_name)}.catalog_product "
                "IN ACCESS EXCLUSIVE MODE"
            )
            during = server.get(host, PRODUCTS, token=token, params={"search": "locked"})
            untouched = server.get(host, CATEGORIES, token=token)
        finally:
            migration.rollback()
            migration.close()
        after = server.get(host, PRODUCTS, token=token, params={"search": "locked"})

    assert during.status_code == 503, during.text
    assert during.headers["Retry-After"] == "5"
    assert during.json()["errors"][0]["code"] == "database_unavailable"
    assert untouched.status_code == 200, untouched.text
    assert after.status_code == 200, after.text
