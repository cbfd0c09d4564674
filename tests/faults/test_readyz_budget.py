"""``/readyz`` reports PostgreSQL down within its own budget, not after ``DB_POOL_TIMEOUT``.

A request waits up to ``DB_POOL_TIMEOUT`` for a pooled connection; a probe that did the
same would time out at the load balancer instead of saying which service is down. The
server here runs with a 30 s pool timeout, and the probe must still answer 503 within
the client's 10 s request deadline (a liveness deadline: the probe has a budget of its
own, ``ATRIUM_READYZ_DB_TIMEOUT``, 1 s); then it recovers once PostgreSQL is back.
"""

from __future__ import annotations

import requests

from tests import driver

DEADLINE = 10  # seconds the probing client waits for any answer


def readyz(server: driver.Server) -> requests.Response:
    return server.get("localhost", "/readyz", timeout=DEADLINE)


def test_readyz_reports_postgres_down_within_its_own_budget(django_db_setup):
    with (
        driver.PrivatePostgres() as postgres,
        driver.Server(env={**postgres.env("postgres"), "DB_POOL_TIMEOUT": "30"}) as server,
    ):
        first = readyz(server)
        assert first.status_code == 200, first.text + server.logs()
        assert first.json()["checks"]["postgres"] == "ok"

        postgres.stop()
        down = readyz(server)  # raises ReadTimeout if the probe waits for the pool timeout
        assert down.status_code == 503, down.text
        assert down.json() == {
            "status": "unavailable",
            "checks": {"postgres": "unavailable", "redis": "ok"},
        }

        postgres.start()
        driver.wait_for(
            lambda: readyz(server).status_code == 200, "readyz to recover", server, timeout=30
        )
