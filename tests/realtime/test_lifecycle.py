"""A tenant's change of status reaches its open sockets, and a purged tenant's socket never
hears of the next tenant that takes its slug (issue 11, item 1)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import User
from atrium.tenants import provisioning, services
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant

from ..fixtures import OWNER_PASSWORD, run_cli
from .sockets import access_token, async_test, communicator, in_thread, open_socket, refusal

GHOST = "ghostx"
GHOST_HOST = f"{GHOST}.localhost"


@dataclass(frozen=True)
class Incarnation:
    tenant: Tenant
    token: str
    category_id: str


def create_ghost() -> Incarnation:
    """``tenants create ghostx`` with an owner, a token of that owner and a category."""
    tenant = provisioning.tenant_create(
        slug=GHOST,
        name="Ghost X",
        owner_email=f"owner@{GHOST}.test",
        owner_password=OWNER_PASSWORD,
    ).tenant
    with tenant_scope(tenant):
        owner = User.objects.get()
        category = catalog.category_create(name="Haunts")
    return Incarnation(tenant, access_token(tenant, owner), str(category.pk))


def create_product(incarnation: Incarnation, sku: str):
    client = APIClient(HTTP_HOST=GHOST_HOST)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {incarnation.token}")
    data = {"name": f"Lamp {sku}", "sku": sku, "price": "9.00", "category": incarnation.category_id}
    return client.post("/api/v1/catalog/products/", data, format="json")


async def closed_with(socket) -> tuple[int, str]:
    """The code and reason of the close the server sends to an open socket."""
    message = await socket.receive_output(timeout=10)
    assert message["type"] == "websocket.close", message
    return message["code"], message.get("reason", "")


@async_test
async def test_purged_tenants_socket_is_closed_and_hears_nothing_of_the_next_ghostx(live_db):
    live_db.append(GHOST)
    first = await in_thread(create_ghost)
    old = communicator(host=GHOST_HOST, subprotocols=["bearer", first.token])
    try:
        assert (await old.connect(timeout=5))[0]
        # Positive control: the first ghostx's socket does receive its own tenant's events.
        response = await in_thread(create_product, first, "OLD-1")
        assert response.status_code == 201, response.json()
        assert (await old.receive_json_from(timeout=5))["data"]["sku"] == "OLD-1"

        purge = await in_thread(run_cli, "tenants", "delete", GHOST, "--purge", "--yes")
        assert purge.returncode == 0, purge.stderr
        assert await closed_with(old) == (4403, "tenant_purged")

        second = await in_thread(create_ghost)
        assert second.tenant.id != first.tenant.id
        async with open_socket(host=GHOST_HOST, subprotocols=["bearer", second.token]) as new:
            response = await in_thread(create_product, second, "NEW-1")
            assert response.status_code == 201, response.json()
            # The new owner's socket gets the event (so the fan-out has happened) ...
            event = await new.receive_json_from(timeout=5)
            assert (event["type"], event["data"]["sku"]) == ("product.created", "NEW-1")
            # ... and the old socket, still attached to the app, gets nothing of it.
            assert await old.receive_nothing(timeout=0.5)
    finally:
        await old.disconnect(timeout=5)


@async_test
async def test_suspend_and_archive_close_the_tenants_sockets_and_no_others(beta_token, alpha_token):
    async with open_socket(token=alpha_token) as alpha:
        for change, reason in (
            (services.tenant_suspend, "tenant_suspended"),
            (services.tenant_archive, "tenant_archived"),
        ):
            beta = communicator(host="beta.localhost", subprotocols=["bearer", beta_token])
            try:
                assert (await beta.connect(timeout=5))[0]
                await beta.send_json_to({"type": "ping"})
                assert await beta.receive_json_from(timeout=5) == {"type": "pong"}
                await in_thread(change, slug="beta")
                assert await closed_with(beta) == (4403, reason)
                # A new socket is refused with the same code (HTTP answers it with 403).
                again = communicator(host="beta.localhost", token=beta_token)
                assert await refusal(again) == (4403, reason)
            finally:
                await beta.disconnect(timeout=5)
                await in_thread(services.tenant_activate, slug="beta")
            # Another tenant's socket is untouched, and beta serves sockets again.
            await alpha.send_json_to({"type": "ping"})
            assert await alpha.receive_json_from(timeout=5) == {"type": "pong"}
            async with open_socket(host="beta.localhost", token=beta_token) as again:
                await again.send_json_to({"type": "ping"})
                assert await again.receive_json_from(timeout=5) == {"type": "pong"}
