"""The drain: one tenant's due deliveries, sent by one worker process at a time.

Isolation. All of a tenant's deliveries go out through its drain (``webhooks.drain``, a
tenant task on the ``webhooks`` queue), and a tenant lock lets one drain of a tenant run at
a time: a tenant whose endpoints hang holds at most one worker process (its requests wait
in that process's threads, ATRIUM_WEBHOOK_TENANT_CONCURRENCY at once and
ATRIUM_WEBHOOK_ENDPOINT_CONCURRENCY per endpoint), and every other process stays free for
the other tenants. A drain hands over after ATRIUM_WEBHOOK_DRAIN_BUDGET seconds by sending
itself again, behind whatever the queue holds by then.

Throughput. The drain's thread keeps the requests going: it fetches due deliveries
(FETCH_LIMIT at a time, again only when there may be more, or every IDLE_REFETCH), hands
them to the request threads, and gives finished attempts to a recorder thread that writes
them in one transaction per batch (``services.attempts_record``) while sending goes on.

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
from django.db import connection
from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.platform.redis import LockHeld, tenant_lock
from atrium.platform.tasks import tenant_task
from atrium.tenants.context import active_scope, reenter

from . import services
from .delivery import AttemptRequest, AttemptResult, attempt, new_client
from .kicks import KICK_TTL, kick_key, redis_client, send_drain, wake_key
from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger("atrium.webhooks")

LOCK_SECONDS = 300  # longer than a drain's budget plus one attempt
MAX_WAKE_HOP = 1800  # seconds; below the broker's visibility timeout
RECORD_EVERY = 0.1  # seconds finished attempts wait to be written together
REFETCH_EVERY = 0.05  # seconds between looks for more due deliveries while busy
IDLE_REFETCH = 0.25  # seconds between looks when the last one found all there was
FETCH_LIMIT = 64  # deliveries one look fetches at most
BACKLOG = 4  # deliveries an endpoint may have waiting, in multiples of its concurrency


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
    # Deliveries of an endpoint at its cap wait in the backlog, up to BACKLOG times the cap;
    # beyond, the endpoint is left out of fetches: a slow endpoint must not keep the
    # tenant's other endpoints from being fetched.
    backlog_cap = BACKLOG * per_endpoint
    deadline = time.monotonic() + atrium_settings.WEBHOOK_DRAIN_BUDGET
    backlog: deque[AttemptRequest] = deque()
    inflight: dict[Future, AttemptRequest] = {}
    per_ep: Counter = Counter()
    finished: list[AttemptResult] = []
    busy: set = set()  # delivery ids in the backlog, in flight, or finished and unwritten
    made = 0
    last_fetch = 0.0
    left_out: set = set()  # the endpoints the last fetch left out (full)
    exhausted = False  # the last fetch found every due delivery it could take
    over_budget = False

    with (
        new_client() as http,
        ThreadPoolExecutor(concurrency, "webhooks") as pool,
        _Recorder(busy, backlog) as recorder,
    ):
        while True:
            now = time.monotonic()
            over_budget = over_budget or now > deadline
            recorder.collect()
            queued = Counter(r.endpoint_id for r in backlog) + per_ep
            ready = sum(1 for r in backlog if per_ep[r.endpoint_id] < per_endpoint)
            if ready < concurrency and not over_budget:
                # Look again at once when idle, soon when there may be more (the last fetch
                # was full, or an endpoint it left out has room now), else every
                # IDLE_REFETCH for deliveries that came due since.
                more = not exhausted or any(queued[ep] <= backlog_cap // 2 for ep in left_out)
                since = now - last_fetch
                if not inflight or (more and since > REFETCH_EVERY) or since > IDLE_REFETCH:
                    left_out = {ep for ep, n in queued.items() if n >= backlog_cap}
                    found = _due(busy, FETCH_LIMIT, left_out)
                    last_fetch = now
                    exhausted = len(found) < FETCH_LIMIT
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
                recorder.write(finished, wait=True)  # all written before the drain ends
                if over_budget or (not backlog and exhausted):
                    break
                continue
            done, _ = wait(inflight, timeout=REFETCH_EVERY, return_when=FIRST_COMPLETED)
            for future in done:
                request = inflight.pop(future)
                per_ep[request.endpoint_id] -= 1
                finished.append(future.result())
                made += 1
            if finished and time.monotonic() - recorder.last_write > RECORD_EVERY:
                recorder.write(finished)
    if over_budget:
        send_drain()  # the rest after the queue's other work
    else:
        _schedule_wake()
    return made


class _Recorder:
    """Writes finished attempts (``services.attempts_record``) while the drain goes on
    sending: one write at a time, in a thread of its own with its own connection, in the
    drain's tenant scope. Inside a transaction (a test's eager drain) it writes in the
    drain's thread instead: another connection would not see the transaction's rows.

    A delivery stays ``busy`` (not fetched again) until its attempt is committed; the
    deliveries of endpoints a write disabled leave the backlog."""

    def __init__(self, busy: set, backlog: deque) -> None:
        self.busy, self.backlog = busy, backlog
        self.inline = connection.in_atomic_block
        self.scope = active_scope()
        self.thread = None if self.inline else ThreadPoolExecutor(1, "webhooks-record")
        self.writing: Future | None = None
        self.written: list = []  # the delivery ids of the write in progress
        self.last_write = time.monotonic()

    def write(self, finished: list[AttemptResult], wait: bool = False) -> None:
        """Start writing ``finished`` (emptied) unless a write is in progress; ``wait``:
        return once everything finished so far is written."""
        while True:
            self.collect(wait=wait)
            if finished and self.writing is None:
                batch = list(finished)
                finished.clear()
                self.written = [r.request.delivery_id for r in batch]
                self.last_write = time.monotonic()
                if self.inline:
                    self.writing = Future()
                    self.writing.set_result(services.attempts_record(batch))
                else:
                    self.writing = self.thread.submit(self._record, batch)
            if not wait or (not finished and self.writing is None):
                return

    def collect(self, wait: bool = False) -> None:
        """Take the outcome of the write in progress if it is done (``wait``: once it is)."""
        if self.writing is None or not (wait or self.writing.done()):
            return
        writing, self.writing = self.writing, None
        disabled = writing.result()  # a failed write fails the drain, as it would inline
        self.busy.difference_update(self.written)
        gone = {endpoint.pk for endpoint in disabled}
        for request in [r for r in self.backlog if r.endpoint_id in gone]:
            self.backlog.remove(request)
            self.busy.discard(request.delivery_id)

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc) -> None:
        """Ends the thread and its connection (after a write in progress)."""
        if self.thread is not None:
            # Looked up in the thread: ``connection.close`` taken here would be this
            # thread's (the proxy resolves when read), and the recorder's would leak.
            self.thread.submit(lambda: connection.close()).result()
            self.thread.shutdown(wait=True)

    def _record(self, batch: list[AttemptResult]):
        with reenter(self.scope):
            return services.attempts_record(batch)


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
