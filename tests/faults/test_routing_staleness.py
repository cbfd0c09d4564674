"""A routing invalidation lost for good — ``tenants suspend`` ran while Redis was away, and
the process that made the change exited before Redis came back — still reaches every
process within ``ATRIUM_ROUTING_MAX_AGE`` seconds: no copy of a tenant's routing entry, in
a process or in the shared Redis hash, is trusted longer than that after it was read from
the database, whatever happens to the version bump.

A server warm on a tenant, on a Redis of the test's own with a short max age: Redis stops,
the operator suspends the tenant with the CLI (its bump is missed, and lost when the
command exits), Redis comes back with its data (the directory version did not move, and
the shared hash said "active" until it expired). The warm server, and a new server, both
refuse the tenant with 403 ``tenant_suspended``.

A Celery worker's copy follows the same bound: a worker warm on the tenant refuses its
queued work (job failed, ``tenant_inactive``) within the max age, though no version moved.

A process that lives on keeps its missed bump and applies it as soon as Redis answers its
next routing lookup: then the change reaches the others at once, long before the max age.
"""

from __future__ import annotations

import copy

from django.conf import settings
from django.test import override_settings

from atrium.tenants import services
from atrium.tenants.directory import directory, missed_bumps
from atrium.tenants.models import TenantStatus
from tests import driver
from tests.fixtures import OWNER_PASSWORD

PRODUCTS = "/api/v1/catalog/products/"
MAX_AGE = 3  # seconds: ATRIUM_ROUTING_MAX_AGE of the servers


def error_code(server: driver.Server, host: str) -> str:
    """The error code of an anonymous read: ``not_authenticated`` while the tenant is
    served, the refusal's code once routing refuses it."""
    response = server.get(host, PRODUCTS)
    return response.json()["errors"][0]["code"]


def test_a_suspension_whose_invalidation_is_lost_reaches_every_process_within_the_max_age(
    shop,
):
    host = f"{shop.slug}.localhost"
    with driver.PrivateRedis() as redis:
        env = {**redis.env(), "ATRIUM_ROUTING_MAX_AGE": str(MAX_AGE)}
        with driver.Server(env=env) as warm:
            assert error_code(warm, host) == "not_authenticated"  # warm on the tenant
            client = redis.client()
            version = client.get("p:routing:version")
            assert b'"active"' in client.hget("p:routing:hosts", host)  # the shared entry
            # The bound itself: the shared entries expire within the max age.
            assert 0 < client.pttl("p:routing:hosts") <= MAX_AGE * 1000

            redis.stop()
            suspend = driver.ManageCommand("tenants", "suspend", shop.slug, env=env)
            suspend.start()
            assert suspend.wait(timeout=120) == 0, suspend.logs()  # committed; bump missed
            redis.start()
            # The invalidation is lost for good: the version did not move.
            assert client.get("p:routing:version") == version

            with driver.Server(env=env) as fresh:  # a process that was not warm
                for server in (warm, fresh):
                    driver.wait_for(
                        lambda server=server: error_code(server, host) == "tenant_suspended",
                        "the suspended tenant to be refused",
                        server,
                        timeout=MAX_AGE + 30,
                        interval=0.2,
                    )


def test_a_process_that_missed_its_bump_applies_it_once_redis_answers(shop):
    host = f"{shop.slug}.localhost"
    with driver.PrivateRedis() as redis:
        # A max age far beyond the test: only the kept bump can make the change seen.
        env = {**redis.env(), "ATRIUM_ROUTING_MAX_AGE": "3600"}
        caches = copy.deepcopy(settings.CACHES)
        caches["default"]["LOCATION"] = redis.url(0)
        with driver.Server(env=env) as server, override_settings(CACHES=caches):
            try:
                assert error_code(server, host) == "not_authenticated"  # warm on the tenant
                redis.stop()
                services.tenant_suspend(slug=shop.slug)  # this process: on Redis' database
                assert missed_bumps.pending  # committed; the bump is kept
                redis.start()
                assert error_code(server, host) == "not_authenticated"  # not applied yet

                # This process's next lookup reaches Redis: the kept bump goes first.
                assert directory.lookup(host).status == TenantStatus.SUSPENDED
                assert not missed_bumps.pending
                driver.wait_for(
                    lambda: error_code(server, host) == "tenant_suspended",
                    "the suspended tenant to be refused",
                    server,
                    timeout=30,
                    interval=0.2,
                )
            finally:
                directory.clear_local()


def test_a_worker_refuses_the_work_of_a_tenant_suspended_with_a_lost_invalidation(shop):
    host = f"{shop.slug}.localhost"
    # Room for an export and its polling every half second (the free plan allows 30/10s).
    services.tenant_update(slug=shop.slug, plan="enterprise")
    with (
        driver.PrivateRedis() as redis,
        driver.Worker(
            env={**redis.env(), "ATRIUM_ROUTING_MAX_AGE": str(MAX_AGE)}, concurrency=1
        ) as worker,
        # The server trusts its copy far beyond the test, so it keeps queueing exports.
        driver.Server(
            env={**redis.env(), **worker.sender_env(), "ATRIUM_ROUTING_MAX_AGE": "3600"}
        ) as server,
    ):
        token = server.login(host, f"owner@{shop.slug}.test", OWNER_PASSWORD)

        def export() -> dict:
            """The finished job of an export queued now."""
            accepted = server.post(host, "/api/v1/catalog/exports/", token=token)
            assert accepted.status_code == 202, accepted.text
            job = f"/api/v1/jobs/{accepted.json()['id']}/"
            return driver.wait_for(
                lambda: (done := server.get(host, job, token=token).json())["status"]
                in ("succeeded", "failed")
                and done,
                "the export job to finish",
                worker,
                timeout=30,
                interval=0.2,
            )

        assert export()["status"] == "succeeded"  # the worker is warm on the tenant
        version = redis.client().get("p:routing:version")
        redis.stop()
        suspend = driver.ManageCommand("tenants", "suspend", shop.slug, env=redis.env())
        suspend.start()
        assert suspend.wait(timeout=120) == 0, suspend.logs()
        redis.start()
        assert redis.client().get("p:routing:version") == version  # the bump is lost

        refused = driver.wait_for(
            lambda: (job := export())["status"] == "failed" and job,
            "an export of the suspended tenant to be refused",
            worker,
            server,
            timeout=MAX_AGE + 60,
            interval=0.2,
        )
        assert refused["error"]["code"] == "tenant_inactive"
