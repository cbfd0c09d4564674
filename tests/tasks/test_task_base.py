"""The task bases in eager mode: the tenant is entered from the message, refusal without one,
idempotency, retries with backoff, the log line, sending after commit, ids only."""

from __future__ import annotations

import logging
import uuid

import pytest
from celery import chain, chord
from django.db import connection

from atrium.platform.accounts.models import User
from atrium.platform.tasks import run_for_active_tenants
from atrium.tenants.celery import SCHEMA_HEADER, TenantRequired, send_on_commit
from atrium.tenants.context import NoTenantError, active_scope, public_scope, tenant_scope
from config.celery import app as celery_app
from tests.tasks.worker_tasks import (
    attempts,
    count_effect,
    flaky,
    keys_for,
    record_context,
    record_platform,
    seen,
    spawn,
)

pytestmark = pytest.mark.django_db


def task_records(caplog, task_name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "atrium.tasks" and r.task == task_name]


# ----------------------------------------------------------------------------- the door


def test_task_runs_in_the_tenant_of_its_message_with_db_and_key_space(tenant_a, tenant_b, marker):
    # Sent from beta's scope but addressed to alpha: what the task sees comes from the
    # message, not from whatever scope happens to be active around it.
    with tenant_scope(tenant_b):
        result = record_context.apply_async([marker], headers={SCHEMA_HEADER: "alpha"}).get()
        assert active_scope().schema_name == "beta"  # restored after the task
    assert result["schema"] == "alpha"
    assert result["tenant"] == "alpha"
    assert result["search_path"].startswith("alpha")
    assert result["users"] == ["owner@alpha.test"]
    assert keys_for(marker) == {f"t:alpha:test:{marker}"}


def test_each_tenant_gets_its_own_context(tenant_a, tenant_b, marker):
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            record_context.delay(f"{marker}-{tenant.slug}")
    assert seen(f"t:alpha:test:{marker}-alpha")["users"] == ["owner@alpha.test"]
    assert seen(f"t:beta:test:{marker}-beta")["users"] == ["owner@beta.test"]
    assert keys_for(marker) == {f"t:alpha:test:{marker}-alpha", f"t:beta:test:{marker}-beta"}


def test_task_without_a_tenant_is_refused_and_never_runs(caplog, marker):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with pytest.raises(TenantRequired, match="needs a tenant"):
        record_context.delay(marker)  # no scope at all
    with public_scope(), pytest.raises(TenantRequired, match="'public' schema"):
        record_context.delay(marker)
    assert keys_for(marker) == set()  # neither in public (p:…) nor anywhere else
    outcomes = [r.outcome for r in task_records(caplog, "tests.record_context")]
    assert outcomes == ["refused", "refused"]


def test_task_for_a_schema_without_tenant_is_refused(tenant_a, marker):
    with tenant_scope(tenant_a), pytest.raises(TenantRequired, match="belongs to no tenant"):
        record_context.apply_async([marker], headers={SCHEMA_HEADER: "no_such_tenant"})
    assert keys_for(marker) == set()


def test_platform_task_runs_in_public_whoever_sends_it(tenant_a, marker):
    with tenant_scope(tenant_a):
        result = record_platform.delay(marker).get()
    assert result["schema"] == "public"
    assert result["tenant"] is None
    assert keys_for(marker) == {f"p:test:{marker}"}


def test_direct_call_runs_in_the_callers_scope_and_needs_a_tenant(tenant_b, marker):
    with tenant_scope(tenant_b):
        assert record_context(marker)["tenant"] == "beta"
    with pytest.raises(NoTenantError):
        record_context(marker)


# ----------------------------------------------------------------------------- canvas


def test_chain_steps_keep_the_tenant(tenant_b, marker):
    with tenant_scope(tenant_b):
        chain(*(record_context.si(f"{marker}-{i}") for i in range(3))).delay()
    assert keys_for(marker) == {f"t:beta:test:{marker}-{i}" for i in range(3)}


def test_chord_header_and_body_keep_the_tenant(tenant_a, marker):
    with tenant_scope(tenant_a):
        chord([record_context.si(f"{marker}-h1"), record_context.si(f"{marker}-h2")])(
            record_context.si(f"{marker}-body")
        )
    assert keys_for(marker) == {f"t:alpha:test:{marker}-{n}" for n in ("h1", "h2", "body")}


def test_task_sent_by_a_task_inherits_the_tenant(tenant_a, marker):
    with tenant_scope(tenant_a):
        spawn.delay(marker)
    assert keys_for(marker) == {f"t:alpha:test:{marker}"}


# ----------------------------------------------------------------------------- idempotency


def effects(schema: str, marker: str) -> int:
    from tests.tasks.worker_tasks import redis

    return int(redis().get(f"t:{schema}:test:{marker}:effects") or 0)


def test_same_idempotency_key_twice_has_one_effect(tenant_a, tenant_b, marker, caplog):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with tenant_scope(tenant_a):
        first = count_effect.delay(marker, idempotency_key="order-42").get()
        second = count_effect.delay(marker, idempotency_key="order-42").get()
        count_effect.delay(marker, idempotency_key="order-43")  # another key: another effect
    with tenant_scope(tenant_b):  # the same key in another tenant is another key
        count_effect.delay(marker, idempotency_key="order-42")
    assert (first, second) == (1, None)
    assert effects("alpha", marker) == 2
    assert effects("beta", marker) == 1
    outcomes = [r.outcome for r in task_records(caplog, "tests.count_effect")]
    assert outcomes == ["success", "duplicate", "success", "success"]
    assert {key for key in _idem_keys("tests.count_effect") if "order-42" in key} == {
        "t:alpha:idem:tests.count_effect:order-42",
        "t:beta:idem:tests.count_effect:order-42",
    }


def test_idempotency_key_as_a_send_option_works_like_the_keyword(tenant_a, marker, caplog):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with tenant_scope(tenant_a):
        first = count_effect.apply_async([marker], idempotency_key="invoice-9").get()
        again = count_effect.apply_async([marker], idempotency_key="invoice-9").get()
        signature = count_effect.s(marker).set(idempotency_key="invoice-9").delay().get()
        keyword = count_effect.delay(marker, idempotency_key="invoice-9").get()
        other = count_effect.apply_async([marker], idempotency_key="invoice-10").get()
    assert (first, again, signature, keyword, other) == (1, None, None, None, 2)
    assert effects("alpha", marker) == 2
    outcomes = [r.outcome for r in task_records(caplog, "tests.count_effect")]
    assert outcomes == ["success", "duplicate", "duplicate", "duplicate", "success"]
    assert {key for key in _idem_keys("tests.count_effect") if "invoice-" in key} == {
        "t:alpha:idem:tests.count_effect:invoice-9",
        "t:alpha:idem:tests.count_effect:invoice-10",
    }


def test_two_different_idempotency_keys_for_one_message_are_refused(tenant_a, marker):
    with tenant_scope(tenant_a), pytest.raises(ValueError, match="Two different idempotency"):
        count_effect.apply_async([marker], {"idempotency_key": "a"}, idempotency_key="b")
    with tenant_scope(tenant_a):  # the same key given both ways is one key
        count_effect.apply_async([marker], {"idempotency_key": "a"}, idempotency_key="a")
    assert effects("alpha", marker) == 1


def test_redelivered_message_has_one_effect(tenant_a, marker):
    task_id = str(uuid.uuid4())
    with tenant_scope(tenant_a):
        count_effect.apply_async([marker], task_id=task_id)
        count_effect.apply_async([marker], task_id=task_id)  # the broker delivers it again
        count_effect.apply_async([marker])  # a separate send, no key: a separate effect
    assert effects("alpha", marker) == 2


def test_idempotent_tasks_ack_late_and_requeue_when_the_worker_dies():
    assert count_effect.acks_late and count_effect.reject_on_worker_lost
    assert not record_context.acks_late


def _idem_keys(task_name: str) -> set[str]:
    from tests.tasks.worker_tasks import redis

    return {k.decode() for k in redis().scan_iter(match=f"*:idem:{task_name}:*", count=1000)}


# ----------------------------------------------------------------------------- retries


@pytest.fixture
def eager_retries():
    """Eager mode that lets a retry run: with eager_propagates, Celery raises the Retry
    to the caller instead of running the next attempt."""
    previous = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = previous


def test_transient_failures_are_retried_with_backoff_in_the_same_tenant(
    tenant_b, marker, caplog, eager_retries
):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with tenant_scope(tenant_b):
        assert flaky.delay(marker, 2).get() == 3
    runs = attempts(f"t:beta:test:{marker}:attempts")
    assert [run["retries"] for run in runs] == [0, 1, 2]
    assert {run["tenant"] for run in runs} == {"beta"}
    records = task_records(caplog, "tests.flaky")
    assert [r.outcome for r in records] == ["retry", "retry", "success"]
    assert [r.retries for r in records] == [0, 1, 2]
    # Exponential backoff with full jitter (factor 1): at most 1s, then at most 2s — not
    # Celery's fixed three minutes.
    assert 0 <= records[0].retry_in <= 1
    assert 0 <= records[1].retry_in <= 2


def test_retries_give_up_after_max_retries(tenant_a, marker, caplog, eager_retries):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with tenant_scope(tenant_a):
        result = flaky.delay(marker, 100)
    assert result.state == "FAILURE"
    assert isinstance(result.result, ConnectionError)
    assert len(attempts(f"t:alpha:test:{marker}:attempts")) == flaky.max_retries + 1
    assert [r.outcome for r in task_records(caplog, "tests.flaky")][-1] == "failure"


def test_failed_run_frees_its_idempotency_key(tenant_a, marker, eager_retries):
    with tenant_scope(tenant_a):
        assert flaky.delay(marker, 100, idempotency_key="k").state == "FAILURE"
        # The failure left no effect, so the same key may run again (and succeed now).
        assert flaky.delay(marker, 0, idempotency_key="k").get() == flaky.max_retries + 2


# ----------------------------------------------------------------------------- log line


def test_one_structured_log_line_per_run(tenant_a, marker, caplog):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with tenant_scope(tenant_a):
        result = record_context.delay(marker)
    [record] = task_records(caplog, "tests.record_context")
    assert record.levelno == logging.INFO
    assert record.tenant == "alpha"
    assert record.task_id == result.id
    assert record.outcome == "success"
    assert record.retries == 0
    assert isinstance(record.duration_ms, float) and record.duration_ms >= 0
    assert f"tenant=alpha id={result.id}" in record.getMessage()


# ----------------------------------------------------------------------------- sending


def test_send_on_commit_waits_for_the_commit_and_keeps_the_scope(
    tenant_a, tenant_b, marker, django_capture_on_commit_callbacks
):
    # The commit happens after alpha's scope has ended, while beta's is active.
    with tenant_scope(tenant_b), django_capture_on_commit_callbacks(execute=True) as callbacks:
        with tenant_scope(tenant_a):
            send_on_commit(record_context, [f"{marker}-1"])
            send_on_commit("tests.record_context", [f"{marker}-2"])  # by name, as beat sends
            assert keys_for(marker) == set()  # nothing before the commit
        assert keys_for(marker) == set()
    assert len(callbacks) == 2
    assert keys_for(marker) == {f"t:alpha:test:{marker}-1", f"t:alpha:test:{marker}-2"}


def test_tasks_take_ids_not_objects(tenant_a):
    with tenant_scope(tenant_a):
        user = User.objects.get(email="owner@alpha.test")
        with pytest.raises(TypeError, match=r"pass its id"):
            record_context.delay(user)
        with pytest.raises(TypeError, match=r"keyword argument\['users'\]\[0\]"):
            record_context.apply_async(kwargs={"users": [user]})
        with pytest.raises(TypeError, match="QuerySet"):
            send_on_commit(record_context, [User.objects.all()])


# ----------------------------------------------------------------------------- fan-out


def test_fan_out_refuses_what_is_not_a_tenant_task(tenant_a):
    with pytest.raises(ValueError, match="not a registered tenant task"):
        run_for_active_tenants.delay("tests.no_such_task")
    with pytest.raises(ValueError, match="not a registered tenant task"):
        run_for_active_tenants.delay("tests.record_platform")


def test_fan_out_runs_in_public_and_sends_in_each_tenant(tenant_a, marker, caplog):
    caplog.set_level(logging.INFO, logger="atrium.tasks")
    with tenant_scope(tenant_a):
        sent = run_for_active_tenants.delay("tests.record_context", marker).get()
        assert connection.schema_name == "alpha"  # the sender's scope is back
    [fan_out] = task_records(caplog, "platform.run_for_active_tenants")
    assert fan_out.tenant == "public"
    assert {"alpha", "beta"} <= set(sent)
    assert keys_for(marker) == {f"t:{schema}:test:{marker}" for schema in sent}
