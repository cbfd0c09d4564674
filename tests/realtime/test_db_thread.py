"""Database work of a socket runs in its tenant's schema, whatever its thread did before."""

from __future__ import annotations

from django.db import connection

from atrium.tenants.asgi import tenant_database_sync_to_async
from atrium.tenants.context import NoTenantError, tenant_scope

from .sockets import async_test, in_thread, open_socket


def search_path() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        return cursor.fetchone()[0]


def leave_thread_in(tenant) -> None:
    """Leave this thread's connection on ``tenant``'s schema, as a previous socket might."""
    connection.set_tenant(tenant)
    assert search_path().startswith(tenant.schema_name)


@async_test
async def test_sync_calls_enter_the_callers_tenant_and_restore_the_thread(
    live_db, tenant_a, tenant_b
):
    await in_thread(leave_thread_in, tenant_b)
    try:
        with tenant_scope(tenant_a):
            assert (await tenant_database_sync_to_async(search_path)()).startswith("alpha")
        # The thread is handed back as it was found.
        assert await in_thread(lambda: connection.tenant.schema_name) == "beta"
    finally:
        await in_thread(connection.set_schema_to_public)


@async_test
async def test_sync_calls_refuse_to_run_without_a_tenant(live_db):
    try:
        await tenant_database_sync_to_async(search_path)()
    except NoTenantError:
        pass
    else:
        raise AssertionError("ran database work without a tenant")


@async_test
async def test_authentication_reads_the_user_from_the_sockets_schema(tenant_b, alpha_token):
    """Alpha's owner does not exist in beta's schema: had the worker thread kept beta's
    search_path, the token's user would not be found and the socket refused (4401)."""
    await in_thread(leave_thread_in, tenant_b)
    try:
        async with open_socket(token=alpha_token) as socket:
            await socket.send_json_to({"type": "ping"})
            assert await socket.receive_json_from() == {"type": "pong"}
        assert await in_thread(lambda: connection.tenant.schema_name) == "beta"
    finally:
        await in_thread(connection.set_schema_to_public)
