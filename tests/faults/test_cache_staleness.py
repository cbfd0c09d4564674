"""A cache invalidation lost for good — Redis was away when the write committed, and the
process that kept the missed version bump died before Redis came back — leaves cached
responses stale for at most ``ATRIUM_RESPONSE_CACHE_TTL`` seconds: every cached response
carries that TTL, so no entry outlives it, whatever happens to the bump.

A server on a Redis of the test's own, with a short TTL: a list is cached, Redis stops, a
product is created (its bump is missed), the server is SIGKILLed, Redis comes back with
its data (the bump is lost: the namespace version did not move), and a new server lists
the new product once the old entries have expired.
"""

from __future__ import annotations

from atrium.tenants.context import tenant_scope
from tests import driver
from tests.fixtures import OWNER_PASSWORD

PRODUCTS = "/api/v1/catalog/products/"
TTL = 4  # seconds: ATRIUM_RESPONSE_CACHE_TTL of the server


def product_skus(server: driver.Server, host: str, token: str) -> set[str]:
    response = server.get(host, PRODUCTS, token=token)
    assert response.status_code == 200, response.text
    return {product["sku"] for product in response.json()["results"]}


def test_an_invalidation_lost_with_its_process_is_stale_for_at_most_the_cache_ttl(shop):
    from atrium.apps.catalog.models import Category

    host = f"{shop.slug}.localhost"
    with tenant_scope(shop):
        category = str(Category.objects.order_by("name").first().pk)
    with (
        driver.PrivateRedis() as redis,
        driver.Server(env={**redis.env(), "ATRIUM_RESPONSE_CACHE_TTL": str(TTL)}) as server,
    ):
        token = server.login(host, f"owner@{shop.slug}.test", OWNER_PASSWORD)

        def create_product(sku: str) -> int:
            body = {"name": f"Item {sku}", "sku": sku, "price": "9.90", "category": category}
            return server.post(host, PRODUCTS, json=body, token=token).status_code

        assert create_product("BEFORE-1") == 201
        cache_states = [server.get(host, PRODUCTS, token=token).headers["X-Cache"] for _ in "12"]
        assert cache_states == ["miss", "hit"]
        client = redis.client()
        [version_key] = client.scan_iter(match="*:cache:*ver:catalog", count=1000)
        entries = list(client.scan_iter(match="*:cache:*resp:catalog:*", count=1000))
        assert entries
        # The bound itself: no cached response lives longer than the TTL.
        assert all(0 < client.pttl(entry) <= TTL * 1000 for entry in entries)
        version = client.get(version_key)

        redis.stop()
        assert create_product("DURING-1") == 201  # committed; its version bump is missed
        server.kill()  # and the only process that kept it dies
        redis.start()
        assert client.get(version_key) == version  # the invalidation is lost for good

        server.start()
        token = server.login(host, f"owner@{shop.slug}.test", OWNER_PASSWORD)
        driver.wait_for(
            lambda: product_skus(server, host, token) == {"BEFORE-1", "DURING-1"},
            "the list to show the product written during the outage",
            server,
            timeout=TTL + 30,
            interval=0.5,
        )
        assert server.get(host, PRODUCTS, token=token).headers["X-Cache"] == "hit"
