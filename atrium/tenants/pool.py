"""The pool of pre-built spare schemas: clones of the template waiting for a tenant.

``tenants create`` renames a spare to the new tenant's schema name (a catalog update
taking milliseconds) instead of cloning the template while the operator waits.
"""

from __future__ import annotations

import uuid

from django.db import connection, transaction

from atrium.conf import atrium_settings

from .context import public_scope
from .migrator import quote_ident, schemas_behind
from .template import schema_exists, template_clone, template_exists, template_require


def spare_schemas() -> list[str]:
    prefix = atrium_settings.SPARE_SCHEMA_PREFIX
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY nspname",
            [prefix],
        )
        return [row[0] for row in cursor.fetchall()]


def pool_status() -> dict:
    with public_scope():
        spares = spare_schemas()
        stale = schemas_behind(spares) if spares else []
        return {
            "spares": len(spares),
            "stale": len(stale),
            "target": atrium_settings.SPARE_POOL_SIZE,
            "template": template_exists(),
            "schemas": spares,
        }


def pool_fill(target: int | None = None) -> int:
    """Clone spares from the template until the pool holds ``target``; returns how many."""
    target = atrium_settings.SPARE_POOL_SIZE if target is None else target
    created = 0
    with public_scope():
        template_require()
        while True:
            # One filler at a time, across processes, so the pool never overshoots.
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('atrium:pool_fill'))")
                if len(spare_schemas()) >= target:
                    return created
                template_clone(atrium_settings.SPARE_SCHEMA_PREFIX + uuid.uuid4().hex[:16])
            created += 1


def spare_claim(target: str) -> bool:
    """Rename an up-to-date spare to ``target`` inside the current transaction."""
    for spare in spare_schemas():
        with connection.cursor() as cursor:
            # Another creation may be claiming the same spare: skip it rather than wait.
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [spare])
            if not cursor.fetchone()[0]:
                continue
        if not schema_exists(spare) or schemas_behind([spare]):
            continue  # claimed meanwhile, or left behind by a migration run
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER SCHEMA {quote_ident(spare)} RENAME TO {quote_ident(target)}")
        return True
    return False
