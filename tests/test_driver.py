"""The process driver itself: what it starts serves, and nothing it started outlives it."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests import driver
from tests.fixtures import OWNER_PASSWORD


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): it is gone once its state says so.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_server_serves_each_tenant_on_its_host_and_leaves_nothing_running(tenant_a):
    with driver.Server() as server:
        token = server.login("alpha.localhost", "owner@alpha.test", OWNER_PASSWORD)
        me = server.get("alpha.localhost", "/api/v1/users/me/", token=token)
        assert (me.status_code, me.json()["email"]) == (200, "owner@alpha.test")
        elsewhere = server.get("beta.localhost", "/api/v1/users/me/", token=token)
        assert elsewhere.status_code == 401
        assert server.url("alpha.localhost", "/x") == f"http://alpha.localhost:{server.port}/x"
        pid, port = server.pid, server.port
    assert not alive(pid)
    assert not driver.port_open(port)


def test_a_failing_test_still_stops_the_process():
    with pytest.raises(RuntimeError), driver.PrivateRedis() as redis:
        pid = redis.pid
        raise RuntimeError("the test failed")
    assert not alive(pid)
    assert not driver.port_open(redis.port)


def test_private_redis_comes_back_on_its_port_with_its_data():
    with driver.PrivateRedis() as redis:
        redis.client().set("kept", "1")
        redis.stop()
        assert not redis.ping()
        redis.start()
        assert redis.client().get("kept") == b"1"


def test_private_postgres_restarts_and_is_removed_at_the_end():
    with driver.PrivatePostgres() as cluster:
        cluster.create_database("scratch")
        with psycopg.connect(cluster.url("scratch"), autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        cluster.restart()
        with psycopg.connect(cluster.url("scratch")) as connection:
            assert connection.execute("SELECT n FROM kept").fetchone() == (7,)
        root = cluster.root
    assert not root.exists()
    assert not driver.port_open(cluster.port)
