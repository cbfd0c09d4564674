"""Deliveries through a real Celery worker to a real local receiver that verifies every
request with the ``standardwebhooks`` package: retries with the same webhook-id, only 2xx
counts, no redirect followed, the timeout, the response cap, the address checked again at
delivery time, endpoints disabled after a streak of failures, and one tenant's hanging
endpoint not delaying another tenant's deliveries."""

from __future__ import annotations

import itertools
import time

import pytest

from atrium.platform.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from atrium.tenants.context import tenant_scope
from tests import driver

from .receiver import Behaviour, Receiver
from .support import clear, emit, endpoint

pytestmark = pytest.mark.usefixtures("live_db")

WORKER_ENV = {
    "ATRIUM_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "ATRIUM_WEBHOOK_RETRY_SCHEDULE": "0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
    "ATRIUM_WEBHOOK_TIMEOUT": "1.5",
    "ATRIUM_WEBHOOK_DISABLE_AFTER_FAILURES": "4",
}


@pytest.fixture(scope="module")
def worker():
    with driver.Worker(env=WORKER_ENV, concurrency=2, include=()) as running:
        yield running


@pytest.fixture
def sending(worker, settings, tenant_a, tenant_b):
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1,localhost"
    settings.ATRIUM_WEBHOOK_QUEUE = worker.queue
    clear(tenant_a, tenant_b)
    with worker.sending(), Receiver() as receiver:
        yield receiver
    clear(tenant_a, tenant_b)


def deliveries(tenant, hook) -> list[WebhookDelivery]:
    with tenant_scope(tenant):
        return list(WebhookDelivery.objects.filter(endpoint=hook).prefetch_related("attempts"))


def wait_until(check, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_subscribed_endpoint_gets_a_verified_delivery(sending, tenant_a):
    first = endpoint(tenant_a, sending.url("/one"))
    second = endpoint(tenant_a, sending.url("/two"), events=["product.created", "x.y"][:1])
    other = endpoint(tenant_a, sending.url("/other"), events=["product.updated"])
    for hook, path in ((first, "/one"), (second, "/two")):
        sending.secrets[path] = [hook.secret]
    emit(tenant_a, "product.created", id="p1", name="Widget")
    [one] = sending.wait_for("/one")
    [two] = sending.wait_for("/two")
    assert one.verified and two.verified
    assert one.payload == {
        "type": "product.created",
        "timestamp": one.payload["timestamp"],
        "data": {"id": "p1", "name": "Widget"},  # the bus puts the object's id first
    }
    # One webhook-id per event (the same for both endpoints), timestamps of the attempt.
    assert one.headers["webhook-id"] == two.headers["webhook-id"]
    assert abs(int(one.headers["webhook-timestamp"]) - time.time()) < 5
    assert one.headers["Content-Type"] == "application/json"
    time.sleep(0.3)
    assert sending.at("/other") == []  # not subscribed
    assert [d.status for d in deliveries(tenant_a, other)] == []


def test_failures_are_retried_with_the_same_webhook_id_until_a_2xx(sending, tenant_a):
    hook = endpoint(tenant_a, sending.url("/flaky"))
    sending.secrets["/flaky"] = [hook.secret]
    sending.behave("/flaky", Behaviour(fail_first=2))
    emit(tenant_a, "product.created", id="p2")
    got = sending.wait_for("/flaky", 3)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert all(r.verified for r in got)
    # The backoff of the schedule (0.5 s +-20 %) between attempts.
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert all(gap >= 0.35 for gap in gaps), gaps
    [delivery] = wait_until(
        lambda: [d for d in deliveries(tenant_a, hook) if d.status == DeliveryStatus.SUCCEEDED],
        "the delivery to succeed",
    )
    assert [a.response_status for a in delivery.attempts.all()] == [500, 500, 200]
    assert delivery.attempt_count == 3 and delivery.next_attempt_at is None
    time.sleep(1)
    assert len(sending.at("/flaky")) == 3  # nothing after the success


def test_only_2xx_counts_and_redirects_are_not_followed(sending, tenant_a):
    target = sending.url("/target")
    redirecting = endpoint(tenant_a, sending.url("/moved"))
    sending.behave("/moved", Behaviour(status=302, location=target))
    not_found = endpoint(tenant_a, sending.url("/gone"))
    sending.behave("/gone", Behaviour(status=404, body=b"no such hook"))
    emit(tenant_a, "product.created", id="p3")
    sending.wait_for("/moved", 2)
    sending.wait_for("/gone", 2)
    assert sending.at("/target") == []
    moved = wait_until(lambda: deliveries(tenant_a, redirecting)[0].attempts.all(), "attempts")
    assert moved[0].response_status == 302 and not moved[0].succeeded
    assert "redirect" in moved[0].error
    gone = deliveries(tenant_a, not_found)[0].attempts.all()
    assert gone[0].response_status == 404 and gone[0].response_body == "no such hook"
    assert not gone[0].succeeded


def test_a_slow_answer_times_out_and_a_long_one_is_cut(sending, tenant_a):
    slow = endpoint(tenant_a, sending.url("/slow"))
    sending.behave("/slow", Behaviour(hang=10))
    chatty = endpoint(tenant_a, sending.url("/chatty"))
    sending.behave("/chatty", Behaviour(body=b"x" * (4 * 1024 * 1024)))
    emit(tenant_a, "product.created", id="p4")
    [timed_out] = wait_until(lambda: deliveries(tenant_a, slow)[0].attempts.all(), "a timeout")
    assert timed_out.response_status is None and "timed out" in timed_out.error
    assert 1400 <= timed_out.duration_ms < 4000  # ATRIUM_WEBHOOK_TIMEOUT=1.5 in the worker
    [cut] = wait_until(lambda: deliveries(tenant_a, chatty)[0].attempts.all(), "an attempt")
    assert cut.succeeded and len(cut.response_body) == 1024


def test_the_address_is_checked_again_at_delivery_time(sending, tenant_a):
    hook = endpoint(tenant_a, sending.url("/hook", host="localhost"))
    sending.secrets["/hook"] = [hook.secret]
    emit(tenant_a, "product.created", id="p5")
    [got] = sending.wait_for("/hook")
    # Sent to the address checked (the receiver listens on 127.0.0.1), named as written.
    assert got.verified and got.headers["Host"] == f"localhost:{sending.port}"
    # The host now points somewhere internal (as DNS rebinding would make it): refused
    # before any connection, and recorded as a failed attempt.
    with tenant_scope(tenant_a):
        WebhookEndpoint.objects.filter(pk=hook.pk).update(url="http://10.255.255.1/hook")
    emit(tenant_a, "product.created", id="p6")
    first_id = got.headers["webhook-id"]
    [second] = wait_until(
        lambda: [
            d for d in deliveries(tenant_a, hook) if d.webhook_id != first_id and d.attempt_count
        ],
        "the second delivery's attempt",
    )
    attempt = second.attempts.all()[0]
    assert attempt.response_status is None and "non-public" in attempt.error


def test_a_failing_endpoint_is_disabled_after_its_streak(sending, tenant_a):
    hook = endpoint(tenant_a, sending.url("/down"))
    sending.behave("/down", Behaviour(status=503))
    watcher = endpoint(tenant_a, sending.url("/watch"), events=["webhook.disabled"])
    sending.secrets["/watch"] = [watcher.secret]
    emit(tenant_a, "product.created", id="p7")
    emit(tenant_a, "product.created", id="p8")

    def disabled():
        with tenant_scope(tenant_a):
            row = WebhookEndpoint.objects.get(pk=hook.pk)
        return row if not row.enabled else None

    row = wait_until(disabled, "the endpoint to be disabled")
    assert row.consecutive_failures >= 4 and "consecutive failures" in row.disabled_reason
    count = len(sending.at("/down"))
    # webhook.disabled went out through the catalogue to the endpoint subscribed to it.
    [notice] = sending.wait_for("/watch")
    assert notice.verified and notice.payload["type"] == "webhook.disabled"
    assert notice.payload["data"]["id"] == str(hook.pk)
    assert notice.payload["data"]["url"] == hook.url
    time.sleep(1.5)
    assert len(sending.at("/down")) == count  # nothing more is sent to it


def test_a_product_created_through_the_api_reaches_its_subscribers(sending, tenant_a):
    """The whole path: the catalog API's service publishes, the bus hands the event to the
    sink after commit, the worker delivers. (Through HTTP and the app registry: platform
    code, tests included, never imports an app.)"""
    from django.apps import apps
    from rest_framework.test import APIClient

    from atrium.platform.accounts.models import User

    hook = endpoint(tenant_a, sending.url("/products"))
    sending.secrets["/products"] = [hook.secret]
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
    client = APIClient(HTTP_HOST="alpha.localhost")
    client.force_authenticate(owner)
    category = client.post("/api/v1/catalog/categories/", {"name": "Webhook shelf"})
    assert category.status_code == 201, category.content
    product = client.post(
        "/api/v1/catalog/products/",
        {"name": "Hooked", "sku": "WH-1", "price": "2.50", "category": category.json()["id"]},
    )
    assert product.status_code == 201, product.content
    [got] = sending.wait_for("/products")
    assert got.verified and got.payload["type"] == "product.created"
    assert got.payload["data"]["id"] == product.json()["id"]
    with tenant_scope(tenant_a):  # leave nothing behind in the shared tenant
        Product, Category = apps.get_model("catalog", "Product"), apps.get_model(
            "catalog", "Category"
        )
        Product.all_objects.filter(pk=product.json()["id"]).hard_delete()
        Category.all_objects.filter(pk=category.json()["id"]).hard_delete()


def test_a_hanging_tenant_does_not_delay_another_tenant(tenant_a, tenant_b, settings):
    """Tenant alpha's endpoint never answers (each attempt waits the full 10 s timeout);
    beta's deliveries, sent after alpha's, still arrive within a second each."""
    env = {**WORKER_ENV, "ATRIUM_WEBHOOK_TIMEOUT": "10"}
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1,localhost"
    clear(tenant_a, tenant_b)
    try:
        with (
            driver.Worker(env=env, concurrency=2, include=()) as worker,
            worker.sending(),
            Receiver() as receiver,
        ):
            settings.ATRIUM_WEBHOOK_QUEUE = worker.queue
            receiver.behave("/stuck", Behaviour(hang=60))
            endpoint(tenant_a, receiver.url("/stuck"))
            hook_b = endpoint(tenant_b, receiver.url("/beta"))
            receiver.secrets["/beta"] = [hook_b.secret]
            for n in range(10):
                emit(tenant_a, "product.created", id=f"a{n}")
            receiver.wait_for("/stuck", 4)  # alpha's drain is stuck in its requests
            latencies = []
            for n in range(5):
                committed = emit(tenant_b, "product.created", id=f"b{n}")
                [*_, got] = receiver.wait_for("/beta", n + 1, timeout=5)
                latencies.append(got.at - committed)
                assert got.verified
            assert max(latencies) < 1.0, latencies
    finally:
        clear(tenant_a, tenant_b)
