"""Celery isolation on a reused worker process: one pool process (concurrency 1) serves
tenant A, then B, then A again — plain sends, chain steps, retries and beat's fan-out —
and every run sees only its own tenant: ``SHOW search_path``, the tenant ContextVar, the
users it can read, the Redis keys and the rows it writes. ``seq`` (one counter for every
run) puts the runs of both tenants in the order they happened, and the pid of each run
proves they all came from the same process.

``tests/tasks/test_worker.py`` covers the door itself (refusals, platform tasks, chords,
duplicates); this module is about one process passing from one tenant to the other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from celery import chain

from atrium.apps.catalog.models import Category
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests import driver
from tests.tasks.worker_tasks import attempts, flaky, keys_for, record_context, redis, seen

TIMEOUT = 30


@pytest.fixture(scope="module")
def worker(django_db_setup) -> Iterator[driver.Worker]:
    """One worker with one pool process: every task runs in that same process."""
    with driver.Worker(concurrency=1) as running, running.sending():
        yield running


@pytest.fixture
def marker() -> str:
    """A name no other test uses, for the keys and rows of a test's tasks."""
    return f"m{uuid.uuid4().hex[:12]}"


@pytest.fixture
def rows(live_db, tenant_a, tenant_b, marker) -> Iterator[None]:
    """Categories the tasks write are committed in the suite's tenants: removed after."""
    yield
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            Category.all_objects.filter(name__startswith=marker).delete()


def wait_for_keys(worker: driver.Worker, keys: set[str], what: str) -> None:
    client = redis()
    driver.wait_for(lambda: client.exists(*keys) == len(keys), what, worker, timeout=TIMEOUT)


def runs(marker: str) -> list[dict]:
    """Every run recorded under ``marker`` (any key space), in the order they happened."""
    found = []
    for key in keys_for(marker):
        observed = seen(key)
        found.append({**observed, "key": key})
    return sorted(found, key=lambda run: run["seq"])


def assert_in_its_own_tenant(run: dict, tenant: Tenant) -> None:
    slug = tenant.schema_name
    assert run["key"].startswith(f"t:{slug}:"), run  # its Redis key, in its key space
    assert (run["schema"], run["tenant"]) == (slug, tenant.slug), run  # the ContextVar
    assert run["search_path"] == f"{slug}, public", run  # the connection's schema
    assert run["users"] == [f"owner@{tenant.slug}.test"], run  # the rows it can read


def categories(tenant: Tenant, marker: str) -> set[str]:
    with tenant_scope(tenant):
        return set(Category.objects.filter(name__startswith=marker).values_list("name", flat=True))


def test_one_process_serves_a_then_b_then_a_each_in_its_own_schema(
    worker, tenant_a, tenant_b, marker, rows
):
    order = [tenant_a, tenant_b, tenant_a, tenant_b, tenant_a]
    for index, tenant in enumerate(order):
        with tenant_scope(tenant):
            record_context.delay(f"{marker}-{index}", row=True)
    wait_for_keys(
        worker,
        {f"t:{t.schema_name}:test:{marker}-{i}" for i, t in enumerate(order)},
        "the five runs",
    )

    done = runs(marker)
    assert [run["schema"] for run in done] == [t.schema_name for t in order]
    assert len({run["pid"] for run in done}) == 1  # one process, reused for A, B, A, B, A
    assert done[0]["pid"] != os.getpid()
    for run, tenant in zip(done, order, strict=True):
        assert_in_its_own_tenant(run, tenant)
    # Each run wrote its row into its own schema only.
    assert categories(tenant_a, marker) == {f"{marker}-{i}" for i in (0, 2, 4)}
    assert categories(tenant_b, marker) == {f"{marker}-{i}" for i in (1, 3)}


def test_chain_of_a_keeps_its_tenant_while_b_runs_between_its_steps(
    worker, tenant_a, tenant_b, marker
):
    # The first step takes a while, so B's tasks are queued before the chain's next step
    # (which the worker sends only when a step finishes): the process goes A, B..., A, A.
    with tenant_scope(tenant_a):
        chain(
            record_context.si(f"{marker}-a0", pause=1),
            record_context.si(f"{marker}-a1"),
            record_context.si(f"{marker}-a2"),
        ).apply_async()
    with tenant_scope(tenant_b):
        for index in range(2):
            record_context.delay(f"{marker}-b{index}")
    wait_for_keys(
        worker,
        {f"t:alpha:test:{marker}-a{i}" for i in range(3)}
        | {f"t:beta:test:{marker}-b{i}" for i in range(2)},
        "the chain and B's tasks",
    )

    done = runs(marker)
    assert [run["key"].rsplit("-", 1)[1] for run in done] == ["a0", "b0", "b1", "a1", "a2"]
    assert len({run["pid"] for run in done}) == 1
    for run in done:
        assert_in_its_own_tenant(run, tenant_a if run["schema"] == "alpha" else tenant_b)


def test_retry_of_a_runs_in_a_after_b_used_the_process(worker, tenant_a, tenant_b, marker):
    # B's first task holds the process while A's task and B's second one are queued, so the
    # process goes B, A (fails), B, A's retry (queued after B's second task).
    with tenant_scope(tenant_b):
        record_context.delay(f"{marker}-b0", pause=1)
    with tenant_scope(tenant_a):
        result = flaky.apply_async([marker, 1], ignore_result=False)
    with tenant_scope(tenant_b):
        record_context.delay(f"{marker}-b1")
    assert result.get(timeout=TIMEOUT) == 2

    tries = attempts(f"t:alpha:test:{marker}:attempts")
    between = seen(f"t:beta:test:{marker}-b1")
    assert [t["retries"] for t in tries] == [0, 1]
    assert tries[0]["seq"] < between["seq"] < tries[1]["seq"]  # A failed, B ran, A retried
    assert len({t["pid"] for t in tries} | {between["pid"]}) == 1  # all in the one process
    for run in tries:
        assert (run["schema"], run["tenant"], run["search_path"], run["users"]) == (
            "alpha",
            "alpha",
            "alpha, public",
            ["owner@alpha.test"],
        )
    assert_in_its_own_tenant({**between, "key": f"t:beta:test:{marker}-b1"}, tenant_b)
    assert keys_for(marker) == {
        f"t:alpha:test:{marker}:attempts",
        f"t:beta:test:{marker}-b0",
        f"t:beta:test:{marker}-b1",
    }


def test_beat_fan_out_runs_once_per_active_tenant_each_in_its_schema(
    worker, tenant_a, tenant_b, marker
):
    expected = {f"t:{t.schema_name}:test:{marker}" for t in (tenant_a, tenant_b)}
    with driver.Beat(worker, fan_out=("tests.record_context", marker)) as beat:
        driver.wait_for(
            lambda: redis().exists(*expected) == len(expected),
            "beat's fan-out to reach both tenants",
            worker,
            beat,
            timeout=TIMEOUT,
        )
        assert "Scheduler: Sending due task tests.record_context for every active tenant" in (
            beat.output_since_start()
        )
    # Only the suite's tenants are active now: nothing in public, nothing crossed over.
    assert keys_for(marker) == expected
    done = runs(marker)
    assert len({run["pid"] for run in done}) == 1
    for run in done:
        assert_in_its_own_tenant(run, tenant_a if run["schema"] == "alpha" else tenant_b)
