"""Redis stopped under traffic, then started again, with the app left running.

While Redis is down the API keeps answering: cached reads become misses, the general rate
limits let requests through (fail open), sign-in is refused with 503 (fail closed: no
unlimited password guesses) and ``/readyz`` says 503. Once Redis is back, all of it works
again without a restart: sign-in, caching, rate limits, readiness, background jobs. A job
asked for while the broker is away is refused with 503 and leaves nothing behind (a job
row that no worker will ever take would stay "queued" forever). The server and a Celery
worker run on a Redis of the test's own (cache, throttles, broker, channel layer), on the
test database.
"""

from __future__ import annotations

import time

from atrium.platform.jobs.models import Job
from atrium.tenants.context import tenant_scope
from tests import driver
from tests.faults.traffic import Traffic, answer_of
from tests.fixtures import OWNER_PASSWORD

PRODUCTS = "/api/v1/catalog/products/"
BURST, WINDOW = 30, 10  # the free plan's burst limit: "30/10s" (ATRIUM_RATE_LIMITS)


def product_skus(server: driver.Server, host: str, token: str) -> set[str]:
    response = server.get(host, PRODUCTS, token=token)
    assert response.status_code == 200, response.text
    return {product["sku"] for product in response.json()["results"]}


def burst(server: driver.Server, host: str, token: str) -> list[int]:
    """More requests at once than the burst limit allows."""
    return [
        server.get(host, "/api/v1/users/me/", token=token).status_code for _ in range(BURST + 5)
    ]


def served_until_refused(server: driver.Server, host: str, token: str) -> tuple[list[int], float]:
    """Requests one after the other until the burst limit refuses one (at most ten times the
    limit: a machine so slow that the bucket refills faster than it is drained never sees a
    429). Returns the statuses and the seconds they took."""
    statuses: list[int] = []
    started = time.monotonic()
    while 429 not in statuses and len(statuses) < 10 * BURST:
        statuses.append(server.get(host, "/api/v1/users/me/", token=token).status_code)
    return statuses, time.monotonic() - started


def export_succeeds(server: driver.Server, worker: driver.Worker, host: str, token: str) -> None:
    accepted = server.post(host, "/api/v1/catalog/exports/", token=token)
    assert accepted.status_code == 202, accepted.text
    job = f"/api/v1/jobs/{accepted.json()['id']}/"
    driver.wait_for(
        lambda: server.get(host, job, token=token).json()["status"] == "succeeded",
        "the export job to succeed",
        worker,
        timeout=30,
        interval=0.5,
    )


def jobs_of(tenant) -> int:
    with tenant_scope(tenant):
        return Job.objects.count()


def test_redis_outage_degrades_the_api_and_everything_recovers_without_a_restart(shop):
    host = f"{shop.slug}.localhost"
    owner_email, member_email = f"owner@{shop.slug}.test", f"member@{shop.slug}.test"
    with (
        driver.PrivateRedis() as redis,
        driver.Worker(env=redis.env(), concurrency=1) as worker,
        driver.Server(env={**redis.env(), **worker.sender_env()}) as server,
    ):
        owner = server.login(host, owner_email, OWNER_PASSWORD)
        member = server.login(host, member_email, OWNER_PASSWORD)
        categories = server.get(host, "/api/v1/catalog/categories/", token=owner).json()
        category = categories["results"][0]["id"]

        def create_product(sku: str) -> int:
            body = {"name": f"Item {sku}", "sku": sku, "price": "9.90", "category": category}
            return server.post(host, PRODUCTS, json=body, token=owner).status_code

        assert create_product("BEFORE-1") == 201
        assert [server.get(host, PRODUCTS, token=owner).headers["X-Cache"] for _ in "12"] == [
            "miss",
            "hit",
        ]
        assert server.get(host, "/readyz").status_code == 200
        export_succeeds(server, worker, host, owner)

        traffic = Traffic(
            {
                "products": lambda: server.get(host, PRODUCTS, token=member),
                "me": lambda: server.get(host, "/api/v1/users/me/", token=member),
            },
            interval=0.4,  # about 25 requests per 10 s: under the member's own burst limit
        )
        with traffic:
            time.sleep(1)
            redis.stop()
            down_at = time.monotonic()

            ready = answer_of("readyz", lambda: server.get(host, "/readyz"))
            assert (ready.status, ready.body) == (
                503,
                {"status": "unavailable", "checks": {"postgres": "ok", "redis": "unavailable"}},
            )
            login = server.post(
                host,
                "/api/v1/auth/token/",
                json={"email": member_email, "password": OWNER_PASSWORD},
            )
            refused = answer_of("login", lambda: login)
            assert (refused.status, refused.error_code()) == (503, "login_unavailable"), refused
            assert login.headers["Retry-After"] == "5"
            # Fail open: past the burst limit and still served.
            assert set(burst(server, host, owner)) == {200}
            # No job that no worker will take: refused, nothing left behind.
            jobs_before = jobs_of(shop)
            export = server.post(host, "/api/v1/catalog/exports/", token=owner)
            refused_job = answer_of("export", lambda: export)
            assert (refused_job.status, refused_job.error_code()) == (503, "queue_unavailable")
            assert export.headers["Retry-After"] == "5"
            assert jobs_of(shop) == jobs_before
            # Reads miss the cache; writes still work, and the reads after them leave the
            # cache aside (its version could not be bumped).
            assert server.get(host, PRODUCTS, token=member).headers["X-Cache"] == "miss"
            assert create_product("DURING-1") == 201
            outage_read = server.get(host, PRODUCTS, token=member)
            assert (outage_read.status_code, outage_read.headers["X-Cache"]) == (200, "bypass")
            assert "DURING-1" in {p["sku"] for p in outage_read.json()["results"]}
            time.sleep(1)  # the background traffic meets the outage too

            redis.start()
            up_at = time.monotonic()
            # The same process recovers: sign-in first (it needs Redis).
            member = driver.wait_for(
                lambda: (
                    response := server.post(
                        host,
                        "/api/v1/auth/token/",
                        json={"email": member_email, "password": OWNER_PASSWORD},
                    )
                ).status_code
                == 200
                and response.json()["access"],
                "sign-in to work again",
                server,
                timeout=15,
                interval=0.5,
            )
            assert server.get(host, "/readyz").status_code == 200
            # The worker reconnected to the broker by itself.
            export_succeeds(server, worker, host, owner)
            time.sleep(1)

        # No stale page (the list was cached before the outage, on a Redis that kept its
        # data): what was written during the outage is listed, and cached again.
        assert product_skus(server, host, member) == {"BEFORE-1", "DURING-1"}
        assert server.get(host, PRODUCTS, token=member).headers["X-Cache"] == "hit"
        # The limits are enforced again.
        statuses, elapsed = served_until_refused(server, host, member)
        assert statuses[-1] == 429, f"{len(statuses)} requests and none refused"
        # The bucket held at most BURST requests and refilled one every WINDOW / BURST
        # seconds while the requests ran, however slow the machine was.
        allowed = BURST + int(elapsed * BURST / WINDOW)
        assert set(statuses[:-1]) <= {200} and len(statuses) - 1 <= allowed, (statuses, elapsed)

    assert traffic.since(down_at), "no background request was sent during the outage"
    assert [a for a in traffic.since(down_at) if a.at < up_at], "none met the outage"
    failed = [str(answer) for answer in traffic.answers if answer.status != 200]
    assert failed == [], "\n".join(failed)
