"""Deleting rows follows only the relations whose tables exist in the connection's schema.

Some models live in both the public schema and every tenant's (``accounts.User``: the
operators in public, each tenant's users in its schema), and models that exist only in
tenants point at them (a job's ``created_by``, a product's ``owner``, simplejwt's
outstanding tokens). Django's deletion collector follows every reverse relation of a model
and queries the related table for the rows to cascade, protect or set to NULL, so deleting
an operator in the public schema queried ``jobs_job`` there, which does not exist: the
platform admin's delete page, the bulk action and ``User.objects.filter(…).delete()`` all
crashed.

In a schema the related table is missing from, no row can point at the deleted one: there
is nothing to follow. Which apps have tables in which schema is django-tenants' routing
decision (``TenantSyncRouter.allow_migrate``: ``SHARED_APPS`` in public, ``TENANT_APPS``
elsewhere), so the collector asks the router, for the schema the connection is on, and
finds no related rows (without a query) where migrate would not have created the table.
The same rule serves the other direction (a public-only model pointing at a shared one,
deleted in a tenant).

Why here and not per relation: ``on_delete=DO_NOTHING`` (or a database-level
``DB_CASCADE``/``DB_SET_NULL``) would stop the collector everywhere, so inside a tenant a
user with jobs would no longer be protected and the admin's page would stop listing what
goes with a row; and simplejwt's ``OutstandingToken.user`` (``SET_NULL``) is not ours to
change. The collector is the one place every deletion passes through (``Model.delete``,
``QuerySet.delete``, the admin's ``NestedObjects``), and it offers no setting to choose its
class, so ``install()`` wraps ``Collector.related_objects`` once at start-up.
"""

from __future__ import annotations

import functools

from django.db import connections, router
from django.db.models.deletion import Collector


def has_table_here(model, using: str) -> bool:
    """Whether ``model``'s table exists in the schema the connection ``using`` is on, by
    django-tenants' router (the rule migrate followed when it created the tables)."""
    if not hasattr(connections[using], "schema_name"):  # not a django-tenants database
        return True
    return router.allow_migrate(using, model._meta.app_label, model_name=model._meta.model_name)


def _schema_aware(related_objects):
    @functools.wraps(related_objects)
    def wrapper(self, related_model, related_fields, objs):
        if not has_table_here(related_model, self.using):
            # An empty queryset runs no query: nothing to cascade, protect or set to NULL.
            return related_model._base_manager.using(self.using).none()
        return related_objects(self, related_model, related_fields, objs)

    wrapper.atrium_schema_aware = True
    return wrapper


def install() -> None:
    """Make every deletion collector follow only relations present in the current schema."""
    if not getattr(Collector.related_objects, "atrium_schema_aware", False):
        Collector.related_objects = _schema_aware(Collector.related_objects)


__all__ = ["has_table_here", "install"]
