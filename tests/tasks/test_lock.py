"""tenant_lock: one holder at a time per tenant, tenants independent, fencing, expiry."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest
from django_redis import get_redis_connection

from atrium.platform import redis as redis_module
from atrium.platform.redis import LockHeld, tenant_lock
from atrium.tenants.context import NoTenantError, tenant_scope


@pytest.fixture
def name() -> str:
    return f"lock-{uuid.uuid4().hex[:10]}"


def run_threads(count: int, target) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_one_holder_at_a_time_within_a_tenant(tenant_a, name):
    inside, most_inside, tokens = 0, 0, []
    guard = threading.Lock()  # only protects the bookkeeping, not the critical section

    def worker(_: int) -> None:
        nonlocal inside, most_inside
        with tenant_scope(tenant_a), tenant_lock(name, timeout=10, blocking_timeout=10) as lock:
            with guard:
                inside += 1
                most_inside = max(most_inside, inside)
            tokens.append(lock.token)
            time.sleep(0.02)  # long enough for the others to try to get in
            with guard:
                inside -= 1

    assert run_threads(8, worker) == []
    assert most_inside == 1
    assert len(tokens) == 8
    # Holders got their tokens in the order they held the lock: strictly increasing.
    assert tokens == sorted(tokens) and len(set(tokens)) == 8


def test_tenants_locks_are_independent(tenant_a, tenant_b, name):
    with tenant_scope(tenant_a), tenant_lock(name, timeout=10) as held_by_alpha:
        taken: list[int] = []

        def beta_takes_it(_: int) -> None:
            with tenant_scope(tenant_b), tenant_lock(name, timeout=10) as lock:
                taken.append(lock.token)

        assert run_threads(1, beta_takes_it) == []
        assert taken == [1]  # beta's own counter: its first acquisition
        assert held_by_alpha.key == f"t:alpha:lock:{name}"
        assert held_by_alpha.held()


def test_a_held_lock_answers_lock_held_after_the_blocking_timeout(tenant_a, name):
    with tenant_scope(tenant_a), tenant_lock(name, timeout=5) as held:
        started = time.monotonic()
        with pytest.raises(LockHeld) as refused, tenant_lock(name, timeout=5, blocking_timeout=0.2):
            pytest.fail("a second holder got in")
        waited = time.monotonic() - started
        assert held.held()  # the refusal left the holder alone
    assert waited >= 0.2  # it waited the blocking timeout out before giving up
    error = refused.value
    assert (error.code, error.status_code) == ("lock_held", 409)
    assert 0 < error.retry_after <= 5
    assert name in error.message


def test_a_lock_left_by_a_dead_holder_is_taken_over_by_the_same_owner_only(tenant_a, name):
    """A job's redelivery (its worker died holding the lock) takes the job's lock over at
    once, with a higher token; any other owner still waits for the expiry."""
    with tenant_scope(tenant_a):
        dead_run = tenant_lock(name, timeout=30, owner="job:1")
        first = dead_run.__enter__()  # never released: its process is gone
        with pytest.raises(LockHeld), tenant_lock(name, timeout=30, owner="job:2"):
            pytest.fail("another job got in")
        with tenant_lock(name, timeout=30, owner="job:1") as redelivered:
            assert redelivered.token > first.token
            assert redelivered.held()
        assert get_redis_connection("default").get(first.key) is None  # released by it


def test_a_waiter_gets_the_lock_once_it_is_released(tenant_a, name, monkeypatch):
    holding, waiter_refused = threading.Event(), threading.Event()
    waiter = threading.get_ident()

    class SpyTime:
        """The lock module's clock; notes when the waiter pauses after a refused attempt."""

        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            if threading.get_ident() == waiter:
                waiter_refused.set()
            time.sleep(seconds)

    monkeypatch.setattr(redis_module, "time", SpyTime)

    def holder(_: int) -> None:
        with tenant_scope(tenant_a), tenant_lock(name, timeout=30) as lock:
            assert lock.token == 1
            holding.set()
            # Release only once the waiter has been refused: it is waiting, not arriving late.
            assert waiter_refused.wait(timeout=30), "the waiter never tried the held lock"

    thread = threading.Thread(target=holder, args=(0,))
    thread.start()
    assert holding.wait(timeout=30), "the holder never got the lock"
    with tenant_scope(tenant_a), tenant_lock(name, timeout=10, blocking_timeout=30) as lock:
        assert waiter_refused.is_set()  # it was turned away while the holder held the lock
        assert lock.token == 2  # and got it right after the holder's acquisition
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_fencing_tokens_grow_with_each_acquisition(tenant_a, name):
    with tenant_scope(tenant_a):
        tokens = []
        for _ in range(3):
            with tenant_lock(name, timeout=5) as lock:
                tokens.append(lock.token)
    assert tokens == [1, 2, 3]


def test_an_expired_lock_goes_to_the_next_holder_with_a_higher_token(tenant_a, name, caplog):
    caplog.set_level(logging.WARNING, logger="atrium.platform.redis")
    with tenant_scope(tenant_a):
        with tenant_lock(name, timeout=0.2) as first:
            time.sleep(0.3)  # the holder paused past its timeout: the lock expired
            assert not first.held()
            with tenant_lock(name, timeout=10, blocking_timeout=0) as second:
                assert second.held()
        # A writer that saw `second`'s token refuses anything `first` still sends.
        assert second.token > first.token
    assert any("expired before its holder released it" in r.getMessage() for r in caplog.records)


def test_old_holder_release_leaves_the_new_holders_lock(tenant_a, name):
    with tenant_scope(tenant_a):
        outer = tenant_lock(name, timeout=0.2)
        first = outer.__enter__()
        time.sleep(0.3)
        with tenant_lock(name, timeout=10) as second:
            outer.__exit__(None, None, None)  # the stale holder leaves while `second` holds
            assert second.held()
            assert get_redis_connection("default").get(second.key).decode() == second.owner
        assert not first.held()


def test_lock_needs_a_scope_and_sane_timeouts(tenant_a, name):
    with pytest.raises(NoTenantError), tenant_lock(name, timeout=1):
        pass
    with tenant_scope(tenant_a):
        with pytest.raises(ValueError), tenant_lock(name, timeout=0):
            pass
        with pytest.raises(ValueError), tenant_lock(name, timeout=1, blocking_timeout=-1):
            pass
