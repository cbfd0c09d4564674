"""Through a real Celery worker process and the real Redis broker, eager mode off.

The module starts ``celery worker`` (prefork, two processes) on the test database, on a
queue of this run's own (so parallel runs sharing a broker database never take each
other's messages), and stops it at the end whatever happens. Tasks report what they saw
in Redis under keys built with ``scoped_key`` in the scope they ran in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from celery import chain, chord

from atrium.platform.observability.context import LogContext, bind
from atrium.platform.tasks import active_tenants, run_for_active_tenants
from atrium.tenants import provisioning, services
from atrium.tenants.celery import TenantRequired
from atrium.tenants.context import public_scope, tenant_scope
from config.celery import app as celery_app
from tests import driver
from tests.tasks.worker_tasks import (
    attempts,
    count_effect,
    die_once,
    flaky,
    keys_for,
    record_context,
    record_platform,
    redis,
    seen,
    spawn,
)

TIMEOUT = 30


def wait_for(check: Callable[[], object], worker: driver.Worker, what: str, timeout=TIMEOUT):
    return driver.wait_for(check, what, worker, timeout=timeout)


@pytest.fixture(scope="module")
def worker(django_db_setup) -> Iterator[driver.Worker]:
    """One worker for the module (two pool processes), and this process sending to it."""
    with driver.Worker(concurrency=2) as running, running.sending():
        yield running


def all_present(keys: set[str]) -> Callable[[], bool]:
    client = redis()
    return lambda: client.exists(*keys) == len(keys)


# ----------------------------------------------------------------------------- the door


def test_each_task_runs_in_its_senders_tenant_and_never_touches_the_other(
    worker, tenant_a, tenant_b, marker
):
    expected = set()
    for i in range(6):  # interleaved, so both pool processes serve both tenants
        for tenant in (tenant_a, tenant_b):
            with tenant_scope(tenant):
                record_context.delay(f"{marker}-{tenant.slug}-{i}")
            expected.add(f"t:{tenant.schema_name}:test:{marker}-{tenant.slug}-{i}")
    wait_for(all_present(expected), worker, "every task of both tenants")

    assert keys_for(marker) == expected  # nothing in public, nothing crossed over
    pids = set()
    for key in expected:
        observed = seen(key)
        slug = key.split(":")[1]
        assert observed["schema"] == observed["tenant"] == slug
        assert observed["search_path"].startswith(slug)
        assert observed["users"] == [f"owner@{slug}.test"]
        pids.add(observed["pid"])
    assert os.getpid() not in pids  # they really ran in the worker


def test_task_without_a_tenant_is_refused_and_never_runs_in_public(worker, marker):
    results = [record_context.apply_async([f"{marker}-none"], ignore_result=False)]
    with public_scope():
        results.append(record_context.apply_async([f"{marker}-public"], ignore_result=False))
    for result in results:
        result.get(timeout=TIMEOUT, propagate=False)
        assert result.state == "FAILURE"
        assert isinstance(result.result, TenantRequired)
        assert "needs a tenant" in str(result.result)
    assert keys_for(marker) == set()


def test_platform_task_runs_in_public(worker, tenant_a, marker):
    with tenant_scope(tenant_a):
        observed = record_platform.apply_async([marker], ignore_result=False).get(TIMEOUT)
    assert (observed["schema"], observed["tenant"]) == ("public", None)
    assert keys_for(marker) == {f"p:test:{marker}"}


# ----------------------------------------------------------------------------- canvas


def test_chain_keeps_the_tenant(worker, tenant_b, marker):
    # Only the first step leaves this process; the worker sends the next ones.
    with tenant_scope(tenant_b):
        chain(*(record_context.si(f"{marker}-{i}") for i in range(3))).apply_async()
    expected = {f"t:beta:test:{marker}-{i}" for i in range(3)}
    wait_for(all_present(expected), worker, "the three chain steps")
    assert keys_for(marker) == expected


def test_chord_body_keeps_the_tenant(worker, tenant_a, marker):
    # The body is sent by the worker when the last header task finishes.
    with tenant_scope(tenant_a):
        chord([record_context.si(f"{marker}-h{i}") for i in range(2)])(
            record_context.si(f"{marker}-body")
        )
    expected = {f"t:alpha:test:{marker}-{n}" for n in ("h0", "h1", "body")}
    wait_for(all_present(expected), worker, "the chord header and body")
    assert keys_for(marker) == expected


def test_task_sent_by_a_task_keeps_the_tenant(worker, tenant_b, marker):
    with tenant_scope(tenant_b):
        spawn.delay(marker)
    wait_for(all_present({f"t:beta:test:{marker}"}), worker, "the child task")
    assert keys_for(marker) == {f"t:beta:test:{marker}"}


def test_the_request_id_travels_into_the_task_and_the_tasks_it_sends(worker, tenant_a, marker):
    """A message header carries the sender's request id; the worker restores it in the
    run's log context, and passes it on to what the run sends. Without one, a run's lines
    name the task's own id."""
    with bind(LogContext(request_id="req-worker-1")), tenant_scope(tenant_a):
        record_context.delay(marker)
        spawn.delay(f"{marker}-child")
    with tenant_scope(tenant_a):
        alone = record_context.delay(f"{marker}-alone")
    keys = {
        f"t:alpha:test:{marker}",
        f"t:alpha:test:{marker}-child",
        f"t:alpha:test:{marker}-alone",
    }
    wait_for(all_present(keys), worker, "the tasks of the request")
    assert seen(f"t:alpha:test:{marker}")["request_id"] == "req-worker-1"
    assert seen(f"t:alpha:test:{marker}-child")["request_id"] == "req-worker-1"
    assert seen(f"t:alpha:test:{marker}-alone")["request_id"] == alone.id
    assert seen(f"t:alpha:test:{marker}")["pid"] != os.getpid()


# ----------------------------------------------------------------------------- retries


def test_retried_task_keeps_its_tenant(worker, tenant_a, marker):
    with tenant_scope(tenant_a):
        result = flaky.apply_async([marker, 2], ignore_result=False)
    assert result.get(timeout=TIMEOUT) == 3
    runs = attempts(f"t:alpha:test:{marker}:attempts")
    assert [run["retries"] for run in runs] == [0, 1, 2]
    assert {(run["schema"], run["tenant"]) for run in runs} == {("alpha", "alpha")}
    assert keys_for(marker) == {f"t:alpha:test:{marker}:attempts"}


# ----------------------------------------------------------------------------- duplicates


def effects(schema: str, marker: str) -> int:
    return int(redis().get(f"t:{schema}:test:{marker}:effects") or 0)


def test_duplicate_sends_with_one_idempotency_key_have_one_effect(worker, tenant_a, marker):
    with tenant_scope(tenant_a):
        results = [
            count_effect.apply_async(
                [marker], {"idempotency_key": "invoice-7"}, ignore_result=False
            )
            for _ in range(3)
        ]
    outcomes = sorted((r.get(timeout=TIMEOUT) for r in results), key=lambda v: v is not None)
    assert outcomes == [None, None, 1]
    assert effects("alpha", marker) == 1


def test_idempotency_key_as_a_send_option_has_one_effect(worker, tenant_b, marker):
    # As an option of apply_async and of send_task by name: Celery alone would pass it to
    # the broker as a message property and run every send.
    with tenant_scope(tenant_b):
        results = [
            count_effect.apply_async([marker], idempotency_key="invoice-8", ignore_result=False),
            celery_app.send_task(
                "tests.count_effect", [marker], idempotency_key="invoice-8", ignore_result=False
            ),
            count_effect.apply_async([marker], idempotency_key="invoice-8", ignore_result=False),
        ]
    outcomes = sorted((r.get(timeout=TIMEOUT) for r in results), key=lambda v: v is not None)
    assert outcomes == [None, None, 1]
    assert effects("beta", marker) == 1


def test_redelivered_message_has_one_effect(worker, tenant_b, marker):
    task_id = str(uuid.uuid4())
    with tenant_scope(tenant_b):
        first = count_effect.apply_async([marker], task_id=task_id, ignore_result=False)
        assert first.get(timeout=TIMEOUT) == 1
        # The same message again (same task id), as the broker redelivers it.
        count_effect.apply_async([marker], task_id=task_id, ignore_result=False)
    # The result backend keeps the first success, so the worker's log line is what tells
    # that the second delivery has been handled.
    wait_for(
        lambda: f"task tests.count_effect duplicate: tenant=beta id={task_id}" in worker.log_tail(),
        worker,
        "the second delivery to be skipped as a duplicate",
    )
    assert effects("beta", marker) == 1


def test_message_of_a_dead_worker_process_is_redelivered_and_runs_once(worker, tenant_a, marker):
    # acks_late + reject_on_worker_lost: the first delivery kills its process mid-run, the
    # broker hands the message out again, and that delivery completes the one effect.
    with tenant_scope(tenant_a):
        die_once.delay(marker)
    wait_for(lambda: effects("alpha", marker) == 1, worker, "the redelivered run")
    assert int(redis().get(f"t:alpha:test:{marker}:attempts")) == 2
    assert effects("alpha", marker) == 1


# ----------------------------------------------------------------------------- beat fan-out


def test_fan_out_reaches_exactly_the_active_tenants(worker, live_db, tenant_a, tenant_b, marker):
    slug = f"sus-{uuid.uuid4().hex[:6]}"
    provisioning.tenant_create(slug=slug, name="Suspended Co", owner_email=f"owner@{slug}.test")
    live_db.append(slug)
    suspended = services.tenant_suspend(slug=slug, reason="unpaid")
    active = {tenant.schema_name for tenant in active_tenants()}
    assert {"alpha", "beta"} <= active and suspended.schema_name not in active

    sent = run_for_active_tenants.apply_async(
        ["tests.record_context", marker], ignore_result=False
    ).get(timeout=TIMEOUT)

    assert sorted(sent) == sorted(active)
    expected = {f"t:{schema}:test:{marker}" for schema in active}
    wait_for(all_present(expected), worker, "the task in every active tenant")
    assert keys_for(marker) == expected  # and none for the suspended tenant
    for key in expected:
        assert seen(key)["tenant"] == seen(key)["schema"] == key.split(":")[1]
