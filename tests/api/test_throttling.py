"""Rate limits on real Redis: the GCRA limiter (exact under concurrency), tenant isolation,
the DRF throttles end to end (429, error shape, headers, plans, identities), login limits,
and what happens when Redis is away (the API fails open, login fails closed)."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import multiprocessing
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.test import Client, RequestFactory, override_settings
from django.urls import path
from django_redis import get_redis_connection
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from atrium.platform.accounts import throttling as login_throttling
from atrium.platform.accounts.throttling import LoginUnavailable, enforce_login_rate
from atrium.platform.api import throttling
from atrium.platform.api.throttling import BurstRateThrottle
from atrium.platform.redis import Rate, parse_rate, rate_limit, rate_limit_many
from atrium.tenants.context import NoTenantError, public_scope, tenant_scope
from atrium.tenants.keyspace import scoped_key
from atrium.tenants.models import Tenant

ALPHA, BETA = "alpha.localhost", "beta.localhost"
SMALL_LIMITS = {
    "free": {"burst": "3/10s", "sustained": "5/h"},
    "pro": {"burst": "6/10s", "sustained": "50/h"},
}
LOGIN_LIMITS = {"per_email": "3/60s", "per_ip": "5/60s"}
POLICY = "3;w=10, 5;w=3600"


# ------------------------------------------------------------------ test views and urlconf
class _User:
    is_authenticated = True

    def __init__(self, pk: str) -> None:
        self.pk = pk


class HeaderUserAuthentication(BaseAuthentication):
    """Test-only: ``X-Test-User: <id>`` is that user; no header is an anonymous client."""

    def authenticate(self, request):
        user_id = request.META.get("HTTP_X_TEST_USER")
        return (_User(user_id), None) if user_id else None


class PingView(APIView):
    """Throttled by the project's default throttle classes."""

    authentication_classes = [HeaderUserAuthentication]
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


class RefusingView(PingView):
    def get(self, request):
        return Response({"detail": "busy"}, status=429)


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request):
        enforce_login_rate(request, request.data.get("email", ""))
        return Response({"ok": True})


urlpatterns = [
    path("ping", PingView.as_view()),
    path("refusing", RefusingView.as_view()),
    path("login", LoginView.as_view()),
]


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _fresh_warnings():
    """Each test sees the once-per-outage warnings afresh (buckets: tests/fixtures.py)."""
    throttling.throttle_warning.reset()
    login_throttling.login_warning.reset()


@pytest.fixture
def small_limits():
    with override_settings(
        ROOT_URLCONF=__name__,
        ATRIUM_RATE_LIMITS=SMALL_LIMITS,
        ATRIUM_LOGIN_RATE_LIMITS=LOGIN_LIMITS,
    ):
        yield


def redis_down_settings() -> override_settings:
    """The default cache (hence ``get_redis_connection``) points at a port nobody serves.
    Django rebuilds ``caches`` on ``setting_changed``, so no cached client survives."""
    broken = {
        **settings.CACHES["default"],
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {
            **settings.CACHES["default"]["OPTIONS"],
            "SOCKET_CONNECT_TIMEOUT": 0.2,
            "SOCKET_TIMEOUT": 0.2,
        },
    }
    return override_settings(CACHES={"default": broken})


def redis_keys(pattern: str) -> set[str]:
    return {key.decode() for key in get_redis_connection("default").scan_iter(match=pattern)}


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------- parse_rate
@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("30/10s", 30, 10),
        ("600/h", 600, 3600),
        ("5/min", 5, 60),
        ("20/m", 20, 60),
        ("100/s", 100, 1),
        ("1000/d", 1000, 86400),
        (" 7 / 15min ", 7, 900),
        ("2/1H", 2, 3600),
        ("1/2days", 1, 172800),
    ],
)
def test_parse_rate_accepts(text, limit, period):
    assert parse_rate(text) == Rate(limit=limit, period=period)


@pytest.mark.parametrize(
    "text",
    ["", "30", "30/", "/s", "0/s", "5/0s", "-1/s", "5/1.5s", "5/fortnight", "five/s", "5/s/s"],
)
def test_parse_rate_rejects_with_a_clear_message(text):
    with pytest.raises(ValueError, match="Invalid rate"):
        parse_rate(text)


def test_rate_describes_its_policy_and_never_exceeds_its_limit():
    assert parse_rate("30/10s").policy == "30;w=10"
    rate = parse_rate("3/1s")
    assert rate.interval_us == 333_334  # rounded up: 3 * interval >= 1 s
    assert rate.interval_us * rate.limit >= rate.period * 1_000_000


# ------------------------------------------------------------------------ GCRA on Redis
def test_burst_is_allowed_then_refused_then_recovers():
    # One request per 20 s: nothing a slow machine does between two calls refills a unit,
    # so every count below is exact. The passing of time is then played by moving the
    # bucket's stored theoretical arrival time (TAT) back, which is all that time does to it.
    rate = parse_rate("5/100s")
    interval_us = rate.interval_us
    with public_scope():
        key = scoped_key("ratelimit", unique("gcra"))
        client = get_redis_connection("default")

        def tat() -> int:
            return int(client.get(key).decode())

        def time_passes(us: int) -> int:
            client.set(key, moved := tat() - us, keepttl=True)
            return moved

        burst = [rate_limit(key, rate) for _ in range(5)]
        assert all(d.allowed for d in burst)
        assert [d.remaining for d in burst] == [4, 3, 2, 1, 0]
        assert {d.limit for d in burst} == {5}
        assert all(d.retry_after == 0 for d in burst)

        refused = rate_limit(key, rate)
        assert not refused.allowed and refused.remaining == 0
        assert 0 < refused.retry_after <= 20  # one emission interval at most
        assert 80 < refused.reset_after <= 100
        assert 0 < client.pttl(key) <= 100_000  # gone once the bucket is full again
        # One key per bucket: its theoretical arrival time in whole µs of Redis' clock.
        assert client.get(key).decode().isdigit()
        (seconds, micros), stored = client.time(), tat()
        assert 80 < (stored - seconds * 1_000_000 - micros) / 1e6 <= 100

        # Refused requests are not charged: hammering leaves the bucket as it was.
        for _ in range(20):
            assert not rate_limit(key, rate).allowed
        assert tat() == stored

        moved = time_passes(round(refused.retry_after * 1_000_000))  # the wait it asked for
        again = rate_limit(key, rate)
        assert again.allowed and again.remaining == 0
        assert tat() == moved + interval_us  # charged one unit, from where it stood
        assert not rate_limit(key, rate).allowed

        time_passes(rate.period * 1_000_000)  # the whole period: the bucket is full again
        assert [rate_limit(key, rate).allowed for _ in range(6)] == [True] * 5 + [False]


def test_a_bucket_refills_on_redis_clock():
    """The same recovery in real time: an exhausted bucket takes a request again once its
    retry time has passed on Redis' clock (waited for, however long the machine takes)."""
    rate = parse_rate("2/1s")
    with public_scope():
        key = scoped_key("ratelimit", unique("refill"))
        while (refused := rate_limit(key, rate)).allowed:
            pass  # drained after the third call, unless each call took over half a second
        assert refused.retry_after > 0
        # Refused requests are not charged, so asking again is a fair way to wait.
        deadline = time.monotonic() + 30
        while not (again := rate_limit(key, rate)).allowed:
            assert time.monotonic() < deadline, "the bucket never refilled"
            time.sleep(min(again.retry_after, 0.1))


def test_cost_charges_several_units_and_zero_only_reads():
    rate = parse_rate("5/60s")
    with public_scope():
        key = scoped_key("ratelimit", unique("cost"))
        assert rate_limit(key, rate, cost=0).remaining == 5
        assert not get_redis_connection("default").exists(key)
        assert rate_limit(key, rate, cost=3).remaining == 2
        refused = rate_limit(key, rate, cost=3)
        assert not refused.allowed and refused.remaining == 2 and refused.retry_after > 0
        assert rate_limit(key, rate, cost=2).remaining == 0
        with pytest.raises(ValueError, match="cost"):
            rate_limit(key, rate, cost=6)
        with pytest.raises(ValueError, match="cost"):
            rate_limit(key, rate, cost=-1)


def test_several_buckets_are_charged_all_or_nothing():
    tight, loose = parse_rate("2/60s"), parse_rate("5/60s")
    with public_scope():
        a, b = scoped_key("ratelimit", unique("a")), scoped_key("ratelimit", unique("b"))
        for _ in range(2):
            assert all(d.allowed for d in rate_limit_many([(a, tight), (b, loose)]))
        first, second = rate_limit_many([(a, tight), (b, loose)])
        assert not first.allowed and first.retry_after > 0
        assert second.allowed and second.remaining == 3  # would allow, but was not charged
        assert rate_limit(b, loose, cost=0).remaining == 3


@pytest.mark.django_db
def test_keys_outside_the_active_scope_are_refused(tenant_a):
    rate = parse_rate("5/s")
    with tenant_scope(tenant_a):
        for key in ("t:beta:ratelimit:x", "p:ratelimit:x", scoped_key("cache", "x"), "x"):
            with pytest.raises(ValueError, match="active scope"):
                rate_limit(key, rate)
    with pytest.raises(NoTenantError):
        rate_limit("t:alpha:ratelimit:x", rate)


def test_parallel_threads_at_the_limit_hold_exactly():
    rate, threads, hits = parse_rate("25/60s"), 40, 3
    barrier = threading.Barrier(threads)
    with public_scope():
        key = scoped_key("ratelimit", unique("threads"))

        def hammer():
            barrier.wait()
            return [rate_limit(key, rate) for _ in range(hits)]

        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(contextvars.copy_context().run, hammer) for _ in range(threads)]
            decisions = [d for future in futures for d in future.result()]
    allowed = [d for d in decisions if d.allowed]
    assert len(decisions) == threads * hits
    assert len(allowed) == 25
    # Each unit was handed out once: a read-then-write limiter would repeat some.
    assert sorted(d.remaining for d in allowed) == list(range(25))


def _hammer_in_child(key: str, hits: int, barrier, results) -> None:
    with public_scope():
        barrier.wait()
        results.put([rate_limit(key, parse_rate("25/60s")).allowed for _ in range(hits)])


def test_parallel_processes_at_the_limit_hold_exactly():
    context = multiprocessing.get_context("fork")
    processes, hits = 8, 10
    barrier, results = context.Barrier(processes), context.Queue()
    with public_scope():
        key = scoped_key("ratelimit", unique("processes"))
    workers = [
        context.Process(target=_hammer_in_child, args=(key, hits, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [allowed for _ in workers for allowed in results.get(timeout=30)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(outcomes) == processes * hits
    assert outcomes.count(True) == 25


@pytest.mark.django_db
def test_tenants_have_separate_buckets_in_their_own_key_space(tenant_a, tenant_b):
    rate = parse_rate("3/60s")
    with tenant_scope(tenant_a):
        key_a = scoped_key("ratelimit", "isolation", "ip:203.0.113.9")
        assert [rate_limit(key_a, rate).allowed for _ in range(4)] == [True] * 3 + [False]
    with tenant_scope(tenant_b):
        key_b = scoped_key("ratelimit", "isolation", "ip:203.0.113.9")
        assert [rate_limit(key_b, rate).allowed for _ in range(4)] == [True] * 3 + [False]
    assert redis_keys("*:ratelimit:isolation:*") == {
        "t:alpha:ratelimit:isolation:ip:203.0.113.9",
        "t:beta:ratelimit:isolation:ip:203.0.113.9",
    }


# --------------------------------------------------------------- DRF throttles end to end
def get(host: str = ALPHA, path: str = "/ping", **headers):
    return Client().get(path, HTTP_HOST=host, **headers)


def assert_throttled(response, *, limit: str) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["type"] == "client_error"
    assert [error["code"] for error in body["errors"]] == ["throttled"]
    assert int(response["Retry-After"]) >= 1
    assert response["RateLimit-Limit"] == limit
    assert response["RateLimit-Remaining"] == "0"


@pytest.mark.django_db
def test_burst_limit_answers_429_with_error_shape_and_headers(small_limits, tenant_a):
    responses = [get() for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    assert [r["RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    for response in responses:
        assert response["RateLimit-Limit"] == "3"
        assert response["RateLimit-Policy"] == POLICY
        assert 1 <= int(response["RateLimit-Reset"]) <= 10
    refused = get()
    assert_throttled(refused, limit="3")
    assert 1 <= int(refused["Retry-After"]) <= 4  # one emission interval (10 s / 3), rounded up
    assert refused["RateLimit-Policy"] == POLICY
    assert redis_keys("*ratelimit*") == {
        "t:alpha:ratelimit:burst:ip:127.0.0.1",
        "t:alpha:ratelimit:sustained:ip:127.0.0.1",
    }


@pytest.mark.django_db
def test_sustained_limit_binds_and_refusals_do_not_spend_the_burst(tenant_a):
    # The burst bucket refills one unit per 100 s: its count below does not depend on how
    # long the requests take.
    limits = {"free": {"burst": "10/1000s", "sustained": "4/h"}}
    with override_settings(ROOT_URLCONF=__name__, ATRIUM_RATE_LIMITS=limits):
        assert [get()["RateLimit-Remaining"] for _ in range(4)] == ["3", "2", "1", "0"]
        for _ in range(3):
            refused = get()
            assert_throttled(refused, limit="4")
            assert 890 <= int(refused["Retry-After"]) <= 900  # 3600 s / 4
    with tenant_scope(tenant_a):
        burst = rate_limit(
            scoped_key("ratelimit", "burst", "ip:127.0.0.1"), parse_rate("10/1000s"), cost=0
        )
    assert burst.remaining == 6  # only the 4 requests that went through were charged


@pytest.mark.django_db
def test_one_tenant_exhausting_its_limit_leaves_the_other_alone(small_limits, tenant_a, tenant_b):
    for _ in range(3):
        assert get(ALPHA).status_code == 200
    assert get(ALPHA).status_code == 429
    assert [get(BETA).status_code for _ in range(4)] == [200] * 3 + [429]
    assert get(ALPHA).status_code == 429


@pytest.mark.django_db
def test_identity_is_the_user_when_authenticated_else_the_address(small_limits, tenant_a):
    for _ in range(3):
        assert get(HTTP_X_TEST_USER="u1").status_code == 200
    assert get(HTTP_X_TEST_USER="u1").status_code == 429
    assert get(HTTP_X_TEST_USER="u2").status_code == 200
    assert get().status_code == 200  # anonymous, from 127.0.0.1
    assert get(REMOTE_ADDR="198.51.100.7").status_code == 200
    assert "t:alpha:ratelimit:burst:user:u1" in redis_keys("t:alpha:ratelimit:*")
    assert "t:alpha:ratelimit:burst:ip:198.51.100.7" in redis_keys("t:alpha:ratelimit:*")


@pytest.mark.django_db
def test_forwarded_for_is_ignored_unless_proxies_are_trusted(small_limits, tenant_a):
    spoofed = [get(HTTP_X_FORWARDED_FOR=f"192.0.2.{n}") for n in range(4)]
    assert [r.status_code for r in spoofed] == [200] * 3 + [429]

    with override_settings(ATRIUM_TRUSTED_PROXY_COUNT=1):
        # The proxy appends the address it saw; what the client wrote before it is ignored.
        for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
            assert get(HTTP_X_FORWARDED_FOR=f"{forged}, 10.0.0.1").status_code == 200
        assert get(HTTP_X_FORWARDED_FOR="4.4.4.4, 10.0.0.1").status_code == 429
        assert get(HTTP_X_FORWARDED_FOR="10.0.0.2").status_code == 200
    assert "t:alpha:ratelimit:burst:ip:10.0.0.1" in redis_keys("t:alpha:ratelimit:*")


def test_public_scope_buckets_live_in_the_public_key_space():
    request = Request(RequestFactory().get("/", REMOTE_ADDR="198.51.100.1"))
    request.user = None
    with public_scope():
        assert BurstRateThrottle().get_key(request) == "p:ratelimit:burst:ip:198.51.100.1"


def set_plan(slug: str, plan: str) -> None:
    """Through the model, so the routing directory is invalidated as in production."""
    with public_scope():
        tenant = Tenant.objects.get(slug=slug)
        tenant.plan = plan
        tenant.save(update_fields=["plan"])


def test_each_plan_gets_its_own_limits(live_db, small_limits, tenant_a):
    try:
        set_plan("alpha", "pro")
        responses = [get() for _ in range(7)]
        assert [r.status_code for r in responses] == [200] * 6 + [429]
        assert responses[0]["RateLimit-Limit"] == "6"
        assert responses[0]["RateLimit-Policy"] == "6;w=10, 50;w=3600"

        set_plan("alpha", "legacy")  # unknown plan: the default plan's limits
        get_redis_connection("default").delete(*redis_keys("t:alpha:ratelimit:*"))
        assert [get().status_code for _ in range(4)] == [200] * 3 + [429]
    finally:
        set_plan("alpha", "free")


@pytest.mark.django_db
def test_a_429_from_the_view_gets_retry_after(small_limits, tenant_a):
    response = get(path="/refusing")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response["RateLimit-Remaining"] == "2"


@pytest.mark.django_db
def test_redis_down_lets_requests_through_and_warns_once(small_limits, tenant_a, caplog):
    with caplog.at_level(logging.WARNING, logger=throttling.__name__), redis_down_settings():
        responses = [get() for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 6  # above the burst of 3
    assert not any(r.has_header("RateLimit-Limit") for r in responses)
    warnings = [r for r in caplog.records if r.name == throttling.__name__]
    assert len(warnings) == 1
    assert "requests are not limited" in warnings[0].getMessage()


# ------------------------------------------------------------------------------ login
def login(email: str, host: str = ALPHA, **extra):
    # A 5xx is also reported as a request exception (for Sentry): answer it, don't raise it.
    return Client(raise_request_exception=False).post(
        "/login", {"email": email}, content_type="application/json", HTTP_HOST=host, **extra
    )


@pytest.mark.django_db
def test_login_is_limited_per_tenant_and_email(small_limits, tenant_a, tenant_b):
    assert [login("Ann@Alpha.test").status_code for _ in range(3)] == [200] * 3
    refused = login("  ann@alpha.TEST ")  # the same address, normalised
    assert refused.status_code == 429
    assert [e["code"] for e in refused.json()["errors"]] == ["throttled"]
    assert 1 <= int(refused["Retry-After"]) <= 20
    assert login("bob@alpha.test").status_code == 200  # another e-mail
    assert login("ann@alpha.test", host=BETA).status_code == 200  # another tenant

    digest = hashlib.sha256(b"ann@alpha.test").hexdigest()[:32]
    keys = redis_keys("*ratelimit*")
    assert f"t:alpha:ratelimit:login-email:{digest}" in keys
    assert f"t:beta:ratelimit:login-email:{digest}" in keys
    assert not any("ann" in key or "@" in key for key in keys)


@pytest.mark.django_db
def test_login_is_limited_per_client_address(small_limits, tenant_a):
    assert [login(f"user{n}@alpha.test").status_code for n in range(5)] == [200] * 5
    assert login("user5@alpha.test").status_code == 429
    assert login("user5@alpha.test", REMOTE_ADDR="198.51.100.2").status_code == 200


@pytest.mark.django_db
def test_enforce_login_rate_raises_throttled_with_the_wait(small_limits, tenant_a):
    request = RequestFactory().post("/login", REMOTE_ADDR="198.51.100.3")
    with tenant_scope(tenant_a):
        for _ in range(3):
            enforce_login_rate(request, "carol@alpha.test")
        with pytest.raises(Throttled) as excinfo:
            enforce_login_rate(request, "carol@alpha.test")
    assert 1 <= excinfo.value.wait <= 20


@pytest.mark.django_db
def test_login_fails_closed_when_redis_is_down(small_limits, tenant_a, caplog):
    with redis_down_settings():
        response = login("ann@alpha.test")
        request = RequestFactory().post("/login", REMOTE_ADDR="198.51.100.4")
        with tenant_scope(tenant_a), pytest.raises(LoginUnavailable) as excinfo:
            enforce_login_rate(request, "ann@alpha.test")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["type"] == "server_error"
    assert [e["code"] for e in body["errors"]] == ["login_unavailable"]
    assert "try again" in body["errors"][0]["detail"].lower()
    assert excinfo.value.status_code == 503
    assert excinfo.value.code == "login_unavailable"
    assert any("sign-in refused" in r.getMessage() for r in caplog.records)
