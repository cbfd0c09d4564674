"""The one tenant context: which schema the database uses and which key space Redis uses.

Every door into the system (HTTP, ASGI/Channels, Celery, CLI) enters a scope here, and
everything tenant-scoped reads it back from here. A scope switches the database
connection's schema (django-tenants) and sets a ContextVar that key builders read, and
both are restored in a ``finally`` because threads and connections are reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction

if TYPE_CHECKING:
    from .models import Tenant


class NoTenantError(RuntimeError):
    """Tenant-scoped code ran outside a tenant scope."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What is active: a tenant (with its schema) or the platform's public schema."""

    schema_name: str
    tenant: Tenant | None = None

    @property
    def is_public(self) -> bool:
        return self.schema_name == settings.PUBLIC_SCHEMA_NAME


_active_scope: ContextVar[Scope | None] = ContextVar("atrium_scope", default=None)


@contextmanager
def _enter(scope: Scope, db_tenant) -> Iterator[Scope]:
    previous_db_tenant = connection.tenant
    token = _active_scope.set(scope)
    connection.set_tenant(db_tenant)
    try:
        yield scope
    finally:
        try:
            connection.set_tenant(previous_db_tenant)
        finally:
            _active_scope.reset(token)


@contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[Tenant]:
    """Run the block as ``tenant``: its schema for SQL, its prefix for Redis keys."""
    if tenant is None or not getattr(tenant, "schema_name", None):
        raise NoTenantError("tenant_scope() needs a tenant with a schema name.")
    if tenant.schema_name == settings.PUBLIC_SCHEMA_NAME:
        raise NoTenantError("The public schema is not a tenant: use public_scope().")
    with _enter(Scope(schema_name=tenant.schema_name, tenant=tenant), tenant):
        yield tenant


@contextmanager
def public_scope() -> Iterator[Scope]:
    """Run the block in the platform's own (public) schema and key space."""
    from django_tenants.postgresql_backend.base import FakeTenant

    public = FakeTenant(schema_name=settings.PUBLIC_SCHEMA_NAME)
    with _enter(Scope(schema_name=settings.PUBLIC_SCHEMA_NAME), public) as scope:
        yield scope


@contextmanager
def schema_scope(schema_name: str) -> Iterator[Scope]:
    """Operator-level access to a schema that has no tenant row (template, spares)."""
    from django_tenants.postgresql_backend.base import FakeTenant

    with _enter(Scope(schema_name=schema_name), FakeTenant(schema_name=schema_name)) as scope:
        yield scope


def on_commit(callback: Callable[[], object]) -> None:
    """``transaction.on_commit`` that runs ``callback`` in the scope active now.

    A commit can happen after the scope that scheduled the work has ended (an outer
    transaction, a test capturing callbacks); the callback must still build its keys and
    events for the tenant that made the change.
    """
    scope = active_scope()

    def run_in_scope() -> None:
        with reenter(scope):
            callback()

    transaction.on_commit(run_in_scope)


def reenter(scope: Scope):
    """Enter again a scope captured earlier (``active_scope()``), for work that runs after
    the block that captured it has ended."""
    if scope.tenant is not None:
        return tenant_scope(scope.tenant)
    if scope.is_public:
        return public_scope()
    return schema_scope(scope.schema_name)


def active_scope() -> Scope:
    """The active scope; raises when no door has entered one."""
    scope = _active_scope.get()
    if scope is None:
        raise NoTenantError(
            "No tenant scope is active. Enter one with tenant_scope(tenant) or public_scope()."
        )
    return scope


def current_tenant() -> Tenant:
    """The active tenant; raises in the public scope or outside any scope."""
    scope = active_scope()
    if scope.tenant is None:
        raise NoTenantError("This code needs a tenant, and the public scope is active.")
    return scope.tenant


def current_tenant_or_none() -> Tenant | None:
    scope = _active_scope.get()
    return scope.tenant if scope else None
