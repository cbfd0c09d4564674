"""The drain: one tenant's due deliveries, sent by one worker process at a time.

Isolation. All of a tenant's deliveries go out through its drain (``webhooks.drain``, a
tenant task on the ``webhooks`` queue), and a tenant lock lets one drain of a tenant run at
a time: a tenant whose endpoints hang holds at most one worker process (its requests wait
in that process's threads, ATRIUM_WEBHOOK_TENANT_CONCURRENCY at once and
ATRIUM_WEBHOOK_ENDPOINT_CONCURRENCY per endpoint), and every other process stays free for
the other tenants. A drain hands over after ATRIUM_WEBHOOK_DRAIN_BUDGET seconds by sending
itself again, behind whatever the queue holds by then.

Kicks. Recording deliveries (after commit) ``kick()``s the tenant: a Redis flag
``t:<schema>:webhooks:kick`` set if absent, and a drain message sent only when it was. A
drain clears the flag when it takes the lock and loops again if the flag is set when it
ends, so a delivery committed while it ran is never stranded; a drain that finds the lock
held sets the flag and leaves. The flag expires, so a lost message costs one kick at most.

Retries. When a drain ends it sends one countdown message for the earliest retry it left
(``t:<schema>:webhooks:wake`` remembers when, so a burst of failures sends one), capped at
30 minutes per hop so the broker never holds a message past its visibility timeout. Beat
runs every tenant's drain every ten minutes as a safety net (apps.py).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from celery import current_app
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.platform.redis import LockHeld, tenant_lock
from atrium.platform.tasks import tenant_task

from . import services
from .delivery import AttemptRequest, AttemptResult, attempt, new_client
from .kicks import KICK_TTL, kick_key, redis_client, send_drain, wake_key
from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger("atrium.webhooks")

LOCK_SECONDS = 300  # longer than a drain's budget plus one attempt
MAX_WAKE_HOP = 1800  # seconds; below the broker's visibility timeout
RECORD_EVERY = 0.05  # seconds finished attempts wait to be written together
REFETCH_EVERY = 0.05  # seconds between looks for new due deliveries while busy


@tenant_task(name="webhooks.drain")
def drain() -> int:
    """Send every due delivery of the tenant; returns how many attempts were made."""
    made = 0
    while True:
        try:
            with tenant_lock("webhooks-drain", timeout=LOCK_SECONDS):
                redis_client().delete(kick_key())
                made += _drain_once()
        except LockHeld:
            redis_client().set(kick_key(), 1, ex=KICK_TTL)  # the holder loops once more
            return made
        if not redis_client().exists(kick_key()):
            return made


def _due(exclude: set, limit: int, full_endpoints: set) -> list[AttemptRequest]:
    now = timezone.now()
    rows = (
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
        )
        .exclude(pk__in=exclude)
        .exclude(endpoint_id__in=full_endpoints)
        .select_related("endpoint")
        .order_by("next_attempt_at")[:limit]
    )
    return [
        AttemptRequest(
            delivery_id=row.pk,
            endpoint_id=row.endpoint_id,
            url=row.endpoint.url,
            msg_id=row.webhook_id,
            body=row.payload.encode(),
            secrets=services.signing_secrets(row.endpoint, now),
        )
        for row in rows
    ]


def _drain_once() -> int:
    concurrency = max(1, atrium_settings.WEBHOOK_TENANT_CONCURRENCY)
    per_endpoint = max(1, atrium_settings.WEBHOOK_ENDPOINT_CONCURRENCY)
    deadline = time.monotonic() + atrium_settings.WEBHOOK_DRAIN_BUDGET
    backlog: deque[AttemptRequest] = deque()
    inflight: dict[Future, AttemptRequest] = {}
    per_ep: Counter = Counter()
    finished: list[AttemptResult] = []
    busy: set = set()  # delivery ids in the backlog, in flight, or finished and unwritten
    made = 0
    last_fetch, last_write = 0.0, time.monotonic()
    exhausted = False
    over_budget = False

    def write() -> None:
        nonlocal last_write
        if finished:
            disabled = services.attempts_record(list(finished))
            busy.difference_update(r.request.delivery_id for r in finished)
            finished.clear()
            gone = {endpoint.pk for endpoint in disabled}
            for request in [r for r in backlog if r.endpoint_id in gone]:
                backlog.remove(request)
                busy.discard(request.delivery_id)
        last_write = time.monotonic()

    with new_client() as http, ThreadPoolExecutor(concurrency, "webhooks") as pool:
        while True:
            now = time.monotonic()
            over_budget = over_budget or now > deadline
            # Deliveries of an endpoint at its cap wait in the backlog (up to twice the cap):
            # a slow endpoint must not keep the tenant's other endpoints from being fetched.
            queued = Counter(r.endpoint_id for r in backlog) + per_ep
            full = {ep for ep, n in queued.items() if n >= 2 * per_endpoint}
            ready = sum(1 for r in backlog if per_ep[r.endpoint_id] < per_endpoint)
            wants = ready < concurrency and not over_budget
            if wants and (not exhausted or not inflight or now - last_fetch > REFETCH_EVERY):
                found = _due(busy, concurrency * 4, full)
                last_fetch = now
                exhausted = len(found) < concurrency * 4
                backlog.extend(found)
                busy.update(r.delivery_id for r in found)
            for request in list(backlog):
                if len(inflight) >= concurrency:
                    break
                if per_ep[request.endpoint_id] >= per_endpoint:
                    continue
                backlog.remove(request)
                per_ep[request.endpoint_id] += 1
                inflight[pool.submit(attempt, http, request)] = request
            if not inflight:
                write()
                if over_budget or (not backlog and exhausted):
                    break
                continue
            done, _ = wait(inflight, timeout=REFETCH_EVERY, return_when=FIRST_COMPLETED)
            for future in done:
                request = inflight.pop(future)
                per_ep[request.endpoint_id] -= 1
                finished.append(future.result())
                made += 1
            if finished and (not inflight or time.monotonic() - last_write > RECORD_EVERY):
                write()
    write()
    if over_budget:
        send_drain()  # the rest after the queue's other work
    else:
        _schedule_wake()
    return made


def _schedule_wake() -> None:
    """One countdown message for the earliest retry left (if none is set for earlier)."""
    if current_app.conf.task_always_eager:
        return  # eager mode would run it now; tests run retries through a real worker
    upcoming = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, endpoint__enabled=True)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if upcoming is None:
        return
    now = time.time()
    at = upcoming.timestamp()
    countdown = min(max(0.0, at - now), MAX_WAKE_HOP)
    at = now + countdown
    client = redis_client()
    current = client.get(wake_key())
    if current is not None and now <= float(current) <= at + 0.5:
        return  # an earlier wake is on its way
    client.set(wake_key(), at, ex=int(countdown) + 120)
    send_drain(countdown)
