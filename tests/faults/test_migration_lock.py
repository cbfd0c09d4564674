"""Requests served while a migration changes a table: a clean 503 with Retry-After.

A migration holds an ACCESS EXCLUSIVE lock on the table it changes until its schema's
transaction commits (milliseconds on the replay path). A request that needs that table
waits for it at most ``DB_LOCK_TIMEOUT`` and then answers 503 with ``Retry-After``, never
500 and never an endless wait; what doesn't touch the table answers as usual, and the
table answers again as soon as the migration commits. Code that names a column or table
its tenant's schema lacks (a rollout under way) answers 503 ``schema_migrating`` too.
"""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest
from django.db import ProgrammingError, connection, transaction
from django.test import RequestFactory

from atrium.apps.catalog import services as catalog
from atrium.apps.catalog.models import Category
from atrium.platform.accounts.models import User
from atrium.platform.api.urls import server_error
from atrium.tenants.context import tenant_scope
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


def alter(shop, sql: str) -> None:
    """Run (and commit) DDL in ``shop``'s schema, as a migration of this tenant would."""
    with psycopg.connect(**connection_params(), autocommit=True) as conn:
        conn.execute(f"SET search_path TO {quote_ident(shop.schema_name)}")
        conn.execute(sql)


def test_a_column_or_table_the_schema_lacks_answers_503_schema_migrating(shop):
    """Code ahead of its tenant's schema (a rollout still under way): 503 with Retry-After
    where the request touches the table mid-change, logged as the error it is otherwise."""
    host = f"{shop.slug}.localhost"
    with tenant_scope(shop):
        owner = User.objects.get(email=f"owner@{shop.slug}.test")
        product = catalog.product_create(
            owner=owner,
            name="Lamp",
            sku="LAMP-1",
            price=Decimal("9.50"),
            category=Category.objects.get(name="Early"),
        )
    detail = f"{PRODUCTS}{product.pk}/"
    answers = {}
    with driver.Server() as server:
        token = server.login(host, f"owner@{shop.slug}.test", OWNER_PASSWORD)
        for change, undo in (
            (
                "ALTER TABLE catalog_product RENAME COLUMN description TO description_new",
                "ALTER TABLE catalog_product RENAME COLUMN description_new TO description",
            ),
            (
                "ALTER TABLE catalog_product RENAME TO catalog_product_new",
                "ALTER TABLE catalog_product_new RENAME TO catalog_product",
            ),
        ):
            alter(shop, change)
            try:
                answers[change] = [
                    server.get(host, PRODUCTS, token=token, params={"search": "lamp"}),
                    server.get(host, detail, token=token),
                ]
                untouched = server.get(host, CATEGORIES, token=token)
            finally:
                alter(shop, undo)
            assert untouched.status_code == 200, untouched.text
        after = server.get(host, detail, token=token)
        logs = server.logs(lines=400)

    for change, responses in answers.items():
        for response in responses:
            assert response.status_code == 503, (change, response.text)
            assert response.headers["Retry-After"] == "5"
            assert response.json()["errors"][0]["code"] == "schema_migrating"
    assert after.status_code == 200, after.text
    assert after.json()["name"] == "Lamp"
    assert "schema mismatch answered 503 schema_migrating" in logs
    assert "UndefinedColumn" in logs and "UndefinedTable" in logs


@pytest.mark.django_db
def test_outside_drf_a_missing_table_answers_503_schema_migrating_too():
    """Django's 500 handler (a plain view's or a middleware's exception) maps it the same way."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM catalog_product_not_there_yet")
    except ProgrammingError:
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content)["errors"][0]["code"] == "schema_migrating"
