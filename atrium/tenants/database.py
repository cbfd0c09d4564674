"""How the application holds its PostgreSQL connections, given that a tenant is a schema.

Two rules, both wired in ``TenantsConfig.ready()``:

* **No transaction pooler.** django-tenants sets a connection's ``search_path`` once and
  trusts it for the rest of the session (``TENANT_LIMIT_SET_CALLS``). Behind PgBouncer in
  transaction or statement mode, consecutive statements of one client run on whichever
  server connection is free, so a query could run in another tenant's schema. The first
  connection of each process (per database alias) is checked, and every connection is
  refused with :class:`TransactionPoolerError` when the check fails. The check: while this
  connection is open, a second one must reach a different PostgreSQL backend, and this one
  must stay on its backend. Directly and through a session pooler both always hold; through
  a transaction pooler the idle backend this connection just released is handed to the
  second connection (PgBouncer reuses servers last-in first-out), or, on a busy pooler,
  this connection moves. Cost: one extra connection and three ``SELECT``\\ s per process.
* **Pooled connections are retired after** ``ATRIUM_DB_POOL_MAX_USES`` **borrows.** A
  backend caches the catalog entries (relations, indexes, their columns) of every schema it
  has queried, about 0.2 MiB per tenant schema for a product list (measured by
  ``benchmarks/scale.py``), and never gives that memory back. A pooled connection that has
  served many tenants would grow towards (number of tenants) x 0.2 MiB; one borrow serves
  one request or task, that is one tenant, so retiring a connection after N borrows bounds
  its cache at about N x 0.2 MiB.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.signals import connection_created

from atrium.conf import atrium_settings

logger = logging.getLogger(__name__)


class TransactionPoolerError(ImproperlyConfigured):
    """The database is reached through a pooler that does not keep sessions."""


_lock = threading.Lock()
# Per database alias: None (session kept: fine) or the refusal message. Per process.
_verdicts: dict[str, str | None] = {}


def _backend_pid(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def session_violation(connection) -> str | None:
    """Why ``connection`` (just opened, autocommit) is not bound to one backend, or None."""
    raw = connection.connection
    first = _backend_pid(raw)
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as probe:
        other = _backend_pid(probe)
        again = _backend_pid(raw)
    if other == first:
        return f"a second client connection was served by the same backend (pid {first})"
    if again != first:
        return f"one client connection moved from backend {first} to {again} between statements"
    return None


def refusal_message(connection, evidence: str) -> str:
    where = f"{connection.settings_dict.get('HOST') or 'local socket'}:{connection.settings_dict.get('PORT') or 5432}"
    return (
        f"Database {connection.alias!r} at {where} is behind a pooler in transaction or "
        f"statement mode ({evidence}). Atrium keeps each tenant's schema as a session "
        "setting (search_path), so such a pooler would run queries in another tenant's "
        "schema. Set `pool_mode = session` for this database in PgBouncer (see "
        "docs/scaling.md), or connect to PostgreSQL directly. DB_POOLER_CHECK=0 skips this "
        "check (only for a pooler known to keep sessions)."
    )


def check_session_pooling(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: refuse a transaction pooler (checked once per alias)."""
    if not atrium_settings.DB_POOLER_CHECK or connection.vendor != "postgresql":
        return
    alias = connection.alias
    if alias not in _verdicts:
        with _lock:
            if alias not in _verdicts:
                if not connection.connection.autocommit:
                    return  # AUTOCOMMIT off: a probe query would open a transaction; not checked
                try:
                    evidence = session_violation(connection)
                except psycopg.Error:  # e.g. no connection slot left: check the next one
                    logger.warning("database: could not check for a pooler", exc_info=True)
                    return
                _verdicts[alias] = refusal_message(connection, evidence) if evidence else None
    message = _verdicts[alias]
    if message is not None:
        try:
            connection._close()  # back to its pool, if pooled
        finally:
            connection.connection = None
        raise TransactionPoolerError(message)


def forget_verdicts() -> None:
    """For tests: check again at the next connection."""
    with _lock:
        _verdicts.clear()


def retire_worn_connection(conn: psycopg.Connection) -> None:
    """psycopg_pool ``reset`` callback: count borrows, retire the connection after N.

    Marks the connection expired the way the pool's own ``max_lifetime`` does, so the
    pool closes it and opens a fresh backend in the background (logged at INFO).
    """
    uses = getattr(conn, "_atrium_uses", 0) + 1
    conn._atrium_uses = uses
    limit = atrium_settings.DB_POOL_MAX_USES
    if limit and uses >= limit:
        conn._expire_at = 0.0  # psycopg_pool: expired, discarded on return


def wire_pool(settings_dict: dict) -> None:
    """Give a database's pool options (if it is pooled) the retirement callback."""
    options = settings_dict.setdefault("OPTIONS", {})
    pool = options.get("pool")
    if pool:
        pool = {} if pool is True else pool
        pool.setdefault("reset", retire_worn_connection)
        options["pool"] = pool


def install() -> None:
    """Wire both rules: the pooler check on every new connection, the retirement in pools."""
    connection_created.connect(check_session_pooling, dispatch_uid="atrium-session-pooling")
    for alias in connections:
        wire_pool(connections.settings[alias])
