"""The drain in this process (eager, outside a transaction, as a worker runs it): its
attempts are written from a recorder thread of its own, whose database connection goes
back to the pool when the drain ends, and every delivery is sent once and recorded."""

from __future__ import annotations

import pytest
from django.db import connection

from atrium.platform.webhooks import services
from atrium.platform.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from atrium.tenants.context import tenant_scope

from .support import clear, endpoint

pytestmark = pytest.mark.usefixtures("live_db")


@pytest.fixture
def hooks(tenant_a, receiver):
    clear(tenant_a)
    made = [endpoint(tenant_a, receiver.url(path)) for path in ("/one", "/two")]
    for hook, path in zip(made, ("/one", "/two"), strict=True):
        receiver.secrets[path] = [hook.secret]
    yield made
    clear(tenant_a)


def test_each_drain_gives_its_recorder_connection_back_and_sends_each_delivery_once(
    tenant_a, hooks, receiver
):
    with tenant_scope(tenant_a):
        assert not connection.in_atomic_block  # the recorder runs in a thread of its own
        sizes = []
        for round_ in range(4):
            # Recorded in autocommit: the kick runs the drain (eagerly) at once.
            services.messages_record(
                services.Message("product.created", {"n": f"{round_}-{n}"}, hooks)
                for n in range(20)
            )
            sizes.append(connection.pool.get_stats()["pool_size"])
        # A recorder connection not given back would grow the pool by one per drain.
        assert sizes[-1] <= sizes[0], sizes
        deliveries = WebhookDelivery.objects.all()
        assert deliveries.count() == 160
        assert set(deliveries.values_list("status", "attempt_count")) == {
            (DeliveryStatus.SUCCEEDED, 1)
        }
        assert WebhookAttempt.objects.filter(delivery__in=deliveries).count() == 160
    for path in ("/one", "/two"):
        got = receiver.at(path)
        assert len(got) == 80 and all(r.verified for r in got)
        assert len({r.headers["webhook-id"] for r in got}) == 80  # none sent twice
