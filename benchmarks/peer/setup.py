"""Set the peer up for a benchmark: ``python -m benchmarks.peer.setup <atrium-db-url> <schema>``
(``PEER_DATABASE_URL`` and ``PEER_REDIS_URL`` set, the database empty). Migrates it, creates
the tenant ``bench`` on ``bench.localhost`` (and ``localhost``, where the benchmark
asks ``/healthz``), copies the users, categories and products of
Atrium's tenant schema ``<schema>`` (ids, timestamps and all, so both answer the same JSON)
and prints an access token of ``owner@bench.test``."""

import json
import os
import sys

import django
import psycopg

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.peer.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

from benchmarks.peer.customers.models import Client, Domain  # noqa: E402
from benchmarks.peer.shop.models import User  # noqa: E402

TABLES = {  # peer table: (Atrium table, columns)
    "shop_user": (
        "accounts_user",
        "id, email, name, role, is_active, is_staff, is_superuser, date_joined, last_login, "
        "password",
    ),
    "shop_category": (
        "catalog_category",
        "id, name, slug, parent_id, description, created_at, updated_at, is_deleted",
    ),
    "shop_product": (
        "catalog_product",
        "id, name, slug, sku, description, price, stock, status, category_id, owner_id, tags, "
        "review_count, avg_rating, created_at, updated_at, is_deleted",
    ),
}


def main(atrium_url: str, schema: str) -> None:
    call_command("migrate_schemas", "--shared", verbosity=0)
    tenant = Client.objects.create(schema_name="bench", name="bench")
    Domain.objects.create(domain="bench.localhost", tenant=tenant, is_primary=True)
    Domain.objects.create(domain="localhost", tenant=tenant, is_primary=False)  # /healthz
    with psycopg.connect(atrium_url) as source, schema_context("bench"):
        with connection.cursor() as target:
            for table, (atrium_table, columns) in TABLES.items():
                order = " ORDER BY parent_id NULLS FIRST" if table == "shop_category" else ""
                rows = source.execute(
                    f'SELECT {columns} FROM "{schema}".{atrium_table}{order}'
                ).fetchall()
                marks = ", ".join(["%s"] * len(rows[0]))
                target.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            target.execute("ANALYZE")
        owner = User.objects.get(email="owner@bench.test")
        print(json.dumps({"access": str(RefreshToken.for_user(owner).access_token)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
