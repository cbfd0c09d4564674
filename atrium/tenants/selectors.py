"""Reads of tenants for operators: the tenant list with each schema's size and user count."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection

from .context import public_scope
from .migrator import quote_ident
from .models import Domain, Tenant

USAGE_BATCH = 500  # schemas per UNION ALL statement when counting users


@dataclass(frozen=True)
class SchemaUsage:
    size_bytes: int | None  # tables with their indexes and TOAST; None: no such schema
    users: int | None  # active users; None: the schema has no user table


def schema_usage(schemas: list[str]) -> dict[str, SchemaUsage]:
    """Size and active users of each schema, in two statements (plus one per 500 schemas).

    The sizes come from one scan of the catalog (``pg_total_relation_size`` of every table,
    grouped by schema), which also says which schemas have a user table; the users of
    those are counted in one ``UNION ALL`` statement, not one query per tenant.
    """
    if not schemas:
        return {}
    user_table = get_user_model()._meta.db_table
    with public_scope(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname,
                   COALESCE(sum(pg_total_relation_size(c.oid))
                            FILTER (WHERE c.relkind IN ('r', 'm', 'p')), 0),
                   COALESCE(bool_or(c.relname = %s AND c.relkind = 'r'), false)
            FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
            WHERE n.nspname = ANY(%s)
            GROUP BY n.nspname
            """,
            [user_table, list(schemas)],
        )
        found = {name: (int(size), has_users) for name, size, has_users in cursor.fetchall()}
        with_users = [name for name in schemas if found.get(name, (0, False))[1]]
        users: dict[str, int] = {}
        for start in range(0, len(with_users), USAGE_BATCH):
            batch = with_users[start : start + USAGE_BATCH]
            cursor.execute(
                " UNION ALL ".join(
                    f"SELECT %s, count(*) FROM {quote_ident(name)}.{quote_ident(user_table)} "
                    "WHERE is_active"
                    for name in batch
                ),
                batch,
            )
            users.update(cursor.fetchall())
    return {
        name: SchemaUsage(
            size_bytes=found[name][0] if name in found else None, users=users.get(name)
        )
        for name in schemas
    }


@dataclass(frozen=True)
class TenantRow:
    tenant: Tenant
    primary_domain: str | None
    usage: SchemaUsage


def tenant_list(*, status: str | None = None) -> list[TenantRow]:
    """Every tenant (or those in ``status``) with its primary domain, size and users."""
    with public_scope():
        tenants = list(
            Tenant.objects.all() if status is None else Tenant.objects.filter(status=status)
        )
        primaries = dict(Domain.objects.filter(is_primary=True).values_list("tenant_id", "domain"))
    usage = schema_usage([tenant.schema_name for tenant in tenants])
    return [
        TenantRow(tenant, primaries.get(tenant.id), usage[tenant.schema_name]) for tenant in tenants
    ]
