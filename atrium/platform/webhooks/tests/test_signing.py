"""Signatures as the Standard Webhooks specification defines them, checked by the
``standardwebhooks`` package on a real receiver: genuine deliveries verify; tampered,
replayed and foreign-secret ones do not. And the documented retry schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from atrium.conf import atrium_settings
from atrium.platform.webhooks import services, signing
from atrium.platform.webhooks.delivery import AttemptRequest, attempt, new_client

from .receiver import Receiver

BODY = b'{"type":"product.created","timestamp":"2026-12-07T10:00:00+00:00","data":{"id":"p"}}'


def _spec_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The spec, written out: base64(HMAC-SHA256(base64decode(secret without whsec_),
    "{id}.{timestamp}.{body}")), prefixed with the version."""
    key = base64.b64decode(secret.split("_", 1)[1])
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_secrets_and_signatures_follow_the_specification():
    secret = signing.secret_generate()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret[6:])) <= 64  # the spec's key length
    assert secret != signing.secret_generate()
    now = int(time.time())
    ours = signing.sign(secret, msg_id="msg_1", timestamp=now, body=BODY)
    assert ours == _spec_signature(secret, "msg_1", now, BODY)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": ours}
    assert Webhook(secret).verify(BODY, headers)["type"] == "product.created"


@pytest.fixture
def sent(receiver):
    """One real delivery to the receiver, as a drain sends it; returns (secret, received)."""
    secret = signing.secret_generate()
    request = AttemptRequest(
        delivery_id=1,
        endpoint_id=1,
        url=receiver.url("/hook"),
        msg_id=signing.message_id(),
        body=BODY,
        secrets=(secret,),
    )
    receiver.secrets["/hook"] = [secret]
    with new_client() as client:
        result = attempt(client, request)
    assert result.succeeded, result
    [received] = receiver.wait_for("/hook")
    return secret, received


def test_a_genuine_delivery_verifies(sent):
    secret, received = sent
    assert received.verified is True
    assert Webhook(secret).verify(received.body, received.headers)


def test_a_tampered_body_or_header_fails(sent):
    secret, received = sent
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(received.body.replace(b'"p"', b'"q"'), received.headers)
    for header, value in (("webhook-id", "msg_other"), ("webhook-timestamp", None)):
        forged = dict(received.headers)
        forged[header] = value or str(int(received.headers["webhook-timestamp"]) - 1)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(received.body, forged)


def test_a_replayed_delivery_fails(sent):
    """A delivery re-sent by an attacker more than 5 minutes later: its timestamp is signed,
    so it cannot be refreshed, and the receiver refuses it as too old."""
    secret, received = sent
    old = int(time.time()) - 6 * 60
    replay = {
        "webhook-id": received.headers["webhook-id"],
        "webhook-timestamp": str(old),
        "webhook-signature": signing.sign(
            secret, msg_id=received.headers["webhook-id"], timestamp=old, body=received.body
        ),
    }
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(received.body, replay)


def test_a_foreign_secret_fails(sent, receiver):
    _secret, received = sent
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.secret_generate()).verify(received.body, received.headers)
    # The same through the receiver: a sender signing with another secret is refused.
    foreign = signing.secret_generate()
    now = int(time.time())
    httpx.post(
        receiver.url("/hook"),
        content=BODY,
        headers={
            "webhook-id": "msg_forged",
            "webhook-timestamp": str(now),
            "webhook-signature": signing.sign(
                foreign, msg_id="msg_forged", timestamp=now, body=BODY
            ),
        },
    )
    forged = receiver.wait_for("/hook", 2)[1]
    assert forged.verified is False


def test_the_retry_schedule_spans_about_a_day_and_starts_within_ten_seconds():
    schedule = atrium_settings.WEBHOOK_RETRY_SCHEDULE
    assert len(schedule) + 1 >= 8  # attempts
    assert schedule == sorted(schedule)
    assert 18 * 3600 <= sum(schedule) <= 30 * 3600
    delays = [services.retry_delay(1) for _ in range(200)]
    assert max(delays) <= 10 and min(delays) > 0
    assert len({round(d, 3) for d in delays}) > 50  # jittered
    assert services.retry_delay(len(schedule) + 1) is None  # the schedule is spent


def test_an_attempt_is_refused_before_connecting_to_a_blocked_address(settings):
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = ""
    with Receiver() as receiver, new_client() as client:
        result = attempt(
            client,
            AttemptRequest(
                1, 1, receiver.url("/hook"), "msg_x", BODY, (signing.secret_generate(),)
            ),
        )
        time.sleep(0.2)
        assert receiver.received == []
    assert not result.succeeded and result.status is None
    assert "non-public" in result.error
