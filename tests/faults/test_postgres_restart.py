"""PostgreSQL restarted under traffic.

While the database is away every request fails cleanly (after waiting for a connection up
to the pool's timeout, when the settings pool connections): 503 in the one JSON error
shape (``database_unavailable``), never a 500, an HTML page or another tenant's data;
``/readyz`` says which service is down. Once it is back, the same server process answers again, and
every answer after reconnecting is checked against the tenant it was asked of (a
connection that came back on the public schema, or on another tenant's, would show
other users).

The server runs on a PostgreSQL cluster of the test's own (the shared one is never
restarted), set up like a real deployment through the operator CLI, with a Redis of its
own too: its host directory must not mix with the suite's tenants of the same names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.conf import settings

from tests import driver
from tests.faults.traffic import Answer, Traffic, answer_of
from tests.fixtures import OWNER_PASSWORD, run_cli

TENANTS = ("alpha", "beta")
READY = {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}
DOWN = {"status": "unavailable", "checks": {"postgres": "unavailable", "redis": "ok"}}
OPERATOR = "ops@platform.test"  # a user of the public schema: must never show up in a tenant
# Seconds after PostgreSQL is back by which the server must answer again, however long the
# outage was (a reconnection delay that grew during the outage would exceed it).
RECOVERY_SECONDS = 5


def outage_seconds(connections: dict[str, str]) -> float:
    """How long the database stays down: longer than a request waits for a connection from
    psycopg's pool (when the server uses one), or the requests would only wait, not fail."""
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if connections.get("DB_POOL") == "0" or not pool:
        return 2.5
    return float(pool.get("timeout", 30) if isinstance(pool, dict) else 30) + 2.5


@dataclass
class Stack:
    postgres: driver.PrivatePostgres
    redis: driver.PrivateRedis
    env: dict[str, str]


def cli(stack_env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> str:
    done = run_cli(*args, env={**stack_env, **(extra or {})}, timeout=300)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def stack(django_db_setup) -> Iterator[Stack]:
    """A private cluster migrated and provisioned through the CLI, as scripts/run.sh does."""
    with driver.PrivatePostgres() as postgres, driver.PrivateRedis() as redis:
        postgres.create_database("atrium")
        env = {**postgres.env("atrium"), **redis.env()}
        cli(env, "tenants", "migrate")
        for slug in TENANTS:
            cli(
                env,
                *("tenants", "create", slug, "--name", slug.title()),
                *("--owner-email", f"owner@{slug}.test", "--owner-password", OWNER_PASSWORD),
            )
        cli(
            env,
            *("createsuperuser", "--noinput", "--email", OPERATOR),
            extra={"DJANGO_SUPERUSER_PASSWORD": OWNER_PASSWORD},
        )
        yield Stack(postgres=postgres, redis=redis, env=env)


def connection_variants() -> list:
    """The settings as they are (psycopg's pool, health-checked when a connection is handed
    out), and persistent connections without the pool (``DB_POOL=0``), checked by Django's
    ``conn_health_checks`` at the start of each request."""
    return [
        pytest.param({}, id="as-configured"),
        pytest.param({"DB_POOL": "0", "DB_CONN_MAX_AGE": "60"}, id="persistent-connections"),
    ]


def users_of(answer: Answer) -> set[str]:
    return {user["email"] for user in answer.body["results"]}


def is_database_unavailable(answer: Answer) -> bool:
    return answer.status == 503 and answer.is_json and answer.error_code() == "database_unavailable"


@pytest.mark.parametrize("connections", connection_variants())
def test_requests_fail_cleanly_while_postgres_restarts_then_recover_on_the_right_schema(
    stack, connections
):
    with driver.Server(env={**stack.env, **connections}) as server:
        tokens = {
            slug: server.login(f"{slug}.localhost", f"owner@{slug}.test", OWNER_PASSWORD)
            for slug in TENANTS
        }

        def users(slug: str):
            return lambda: server.get(f"{slug}.localhost", "/api/v1/users/", token=tokens[slug])

        traffic = Traffic(
            {
                "alpha": users("alpha"),
                "beta": users("beta"),
                "readyz": lambda: server.get("alpha.localhost", "/readyz"),
            },
            interval=0.15,  # each user about every 0.5 s: under the burst limit
        )
        with traffic:
            time.sleep(1)
            stack.postgres.stop()
            down_at = time.monotonic()
            # Sent at once: each may wait for the pool's timeout before it fails.
            with ThreadPoolExecutor(3) as senders:
                during = {
                    label: senders.submit(answer_of, label, send)
                    for label, send in {
                        "login": lambda: server.post(
                            "alpha.localhost",
                            "/api/v1/auth/token/",
                            json={"email": "owner@alpha.test", "password": OWNER_PASSWORD},
                        ),
                        # Not in the host directory yet: routing asks the database first.
                        "new host": lambda: server.get("gamma.localhost", "/"),
                        "readyz": lambda: server.get("beta.localhost", "/readyz"),
                    }.items()
                }
                time.sleep(outage_seconds(connections))
                stack.postgres.start()
                up_at = time.monotonic()
            driver.wait_for(
                lambda: [a.status for a in traffic.since(time.monotonic() - 1)][-3:] == [200] * 3,
                f"the server to answer again within {RECOVERY_SECONDS} s of PostgreSQL",
                server,
                timeout=RECOVERY_SECONDS,
            )
            recovered_at = time.monotonic()
            time.sleep(1.5)
        unknown_after = answer_of("new host", lambda: server.get("gamma.localhost", "/"))

    login, unknown_host, readyz = (during[label].result() for label in during)
    assert all(answer.at <= up_at for answer in (login, unknown_host, readyz))
    assert is_database_unavailable(login), login
    assert is_database_unavailable(unknown_host), unknown_host
    assert (readyz.status, readyz.body) == (503, DOWN), readyz
    assert (unknown_after.status, unknown_after.error_code()) == (404, "tenant_not_found")
    answers = traffic.answers
    probes = [a for a in answers if a.label == "readyz"]
    api = [a for a in answers if a.label in TENANTS]
    unclean = [str(a) for a in api if a.status != 200 and not is_database_unavailable(a)]
    assert unclean == [], "answers neither right nor a clean 503:\n" + "\n".join(unclean)
    wrong = [str(a) for a in api if a.status == 200 and users_of(a) != {f"owner@{a.label}.test"}]
    assert wrong == [], "served from the wrong schema:\n" + "\n".join(wrong)
    assert [str(a) for a in probes if (a.status, a.body) not in ((200, READY), (503, DOWN))] == []
    gap = [a for a in api if down_at <= a.at <= up_at]
    assert any(is_database_unavailable(a) for a in gap), "no request met the outage"
    after = [a for a in answers if a.at >= recovered_at]
    assert {a.label for a in after} == {*TENANTS, "readyz"}
    assert [str(a) for a in after if a.status != 200] == []
