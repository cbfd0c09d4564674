"""An endpoint deleted while the worker records an attempt of one of its deliveries: two
real connections (threads), each holding its transaction open while the other waits on
its locks. Whichever goes first, neither fails and nothing of the endpoint is left."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from atrium.platform.webhooks import services
from atrium.platform.webhooks.delivery import AttemptRequest, AttemptResult
from atrium.platform.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from atrium.tenants.context import tenant_scope

from .support import clear, endpoint

pytestmark = pytest.mark.usefixtures("live_db")


class Holder(threading.Thread):
    """Runs ``work`` in ``tenant``'s scope inside a transaction on its own connection, and
    keeps the transaction open until ``release`` is set."""

    def __init__(self, tenant, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.tenant, self.work = tenant, work
        self.pid: int | None = None
        self.done_work = threading.Event()
        self.release = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with tenant_scope(self.tenant), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.pid = cursor.fetchone()[0]
                self.result = self.work()
                self.done_work.set()
                self.release.wait(10)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.done_work.set()
            connection.close()


def waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


def wait_until_blocked(thread: Holder) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if thread.pid is not None and waiting_on_a_lock(thread.pid):
            return
        assert not thread.done_work.is_set(), thread.error or "it did not wait for the lock"
        time.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first one's locks")


@pytest.fixture
def delivery(tenant_a):
    clear(tenant_a)
    hook = endpoint(tenant_a, "https://93.184.215.14/hook")
    with tenant_scope(tenant_a):
        row = WebhookDelivery.objects.create(
            endpoint=hook,
            webhook_id="msg_race",
            event_type="product.created",
            payload="{}",
            next_attempt_at=timezone.now(),
        )
    yield row
    clear(tenant_a)


def finished_attempt(delivery: WebhookDelivery) -> AttemptResult:
    request = AttemptRequest(
        delivery_id=delivery.pk,
        endpoint_id=delivery.endpoint_id,
        url=delivery.endpoint.url,
        msg_id=delivery.webhook_id,
        body=b"{}",
        secrets=(delivery.endpoint.secret,),
    )
    return AttemptResult(
        request=request,
        attempted_at=timezone.now(),
        succeeded=False,
        status=500,
        duration_ms=12,
        response_body="",
        error="",
    )


@pytest.mark.parametrize("first", ["recording", "deleting"])
def test_an_endpoint_deleted_while_an_attempt_is_recorded(tenant_a, delivery, first):
    result = finished_attempt(delivery)
    recording = Holder(tenant_a, lambda: services.attempts_record([result]))
    deleting = Holder(tenant_a, lambda: services.webhook_delete(endpoint=delivery.endpoint))
    leader, follower = (recording, deleting) if first == "recording" else (deleting, recording)
    leader.start()
    assert leader.done_work.wait(10) and leader.error is None, leader.error
    follower.start()
    wait_until_blocked(follower)
    leader.release.set()
    follower.release.set()
    for thread in (leader, follower):
        thread.join(10)
        assert not thread.is_alive()
    assert recording.error is None, recording.error
    assert deleting.error is None, deleting.error
    if first == "deleting":
        assert recording.result == []  # found nothing left to record
    with tenant_scope(tenant_a):
        assert not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).exists()
        assert not WebhookDelivery.objects.filter(pk=delivery.pk).exists()
        assert not WebhookAttempt.objects.filter(delivery_id=delivery.pk).exists()
