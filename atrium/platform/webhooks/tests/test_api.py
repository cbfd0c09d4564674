"""The webhooks API: owners and admins only, the secret shown once, the bad input each
refused with a clear 4xx, rotation, the test event, the delivery log and its retry."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook

from atrium.platform.webhooks import services
from atrium.platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from atrium.tenants.context import tenant_scope

from .conftest import as_user, codes

URL = "/api/v1/webhooks/"
pytestmark = pytest.mark.django_db


def _create(client, url, events=("product.created",), **extra):
    return client.post(URL, {"url": url, "events": list(events), **extra}, format="json")


def test_admins_and_owners_manage_members_are_refused(people, receiver):
    owner, admin, member = (as_user(people[r]) for r in ("owner", "admin", "member"))
    created = _create(owner, receiver.url(), description="orders")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == ["product.created"] and body["enabled"] is True
    hook = body["id"]
    # The secret is shown once: never in a read.
    assert "secret" not in admin.get(f"{URL}{hook}/").json()
    assert all("secret" not in row for row in admin.get(URL).json()["results"])
    for method, path in [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}{hook}/"),
        ("patch", f"{URL}{hook}/"),
        ("delete", f"{URL}{hook}/"),
        ("post", f"{URL}{hook}/rotate-secret/"),
        ("post", f"{URL}{hook}/test/"),
        ("get", f"{URL}{hook}/deliveries/"),
    ]:
        response = getattr(member, method)(path, {}, format="json")
        assert response.status_code == 403, (method, path)
    changed = admin.patch(f"{URL}{hook}/", {"events": ["product.updated"]}, format="json")
    assert changed.status_code == 200 and changed.json()["events"] == ["product.updated"]
    assert admin.delete(f"{URL}{hook}/").status_code == 204
    assert admin.get(f"{URL}{hook}/").status_code == 404


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://user:pw@127.0.0.1/hook", "url_credentials"),
        ("http://user@127.0.0.1/hook", "url_credentials"),
        ("ftp://example.com/hook", "url_scheme_not_allowed"),
        ("file:///etc/passwd", "url_scheme_not_allowed"),
        ("javascript:alert(1)", "url_scheme_not_allowed"),
        ("http://10.0.0.5/hook", "url_not_public"),
        ("http://192.168.1.1/hook", "url_not_public"),
        ("http://172.16.0.1/hook", "url_not_public"),
        ("http://169.254.169.254/latest/meta-data", "url_not_public"),
        ("http://[::1]/hook", "url_not_public"),
        ("http://[fd00::1]/hook", "url_not_public"),
        ("http://[::ffff:10.0.0.1]/hook", "url_not_public"),
        ("http://0.0.0.0/hook", "url_not_public"),
        ("http://224.0.0.1/hook", "url_not_public"),
        ("http://240.0.0.1/hook", "url_not_public"),
        ("http://127.0.0.1:9/hook", "url_not_public"),  # not allowed in this test
        ("http://localhost/hook", "url_not_public"),  # resolves to the loopback
        ("http://100.64.0.1/hook", "url_not_public"),  # shared address space
        ("http://example.com/" + "a" * 2048, "url_too_long"),
        ("http:///nohost", "invalid_url"),
        ("http://example.com:99999/", "invalid_url"),
        ("http://no-such-host.invalid/hook", "url_unresolvable"),
    ],
)
def test_bad_urls_are_refused_with_their_code(people, settings, url, code):
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = ""
    response = _create(as_user(people["owner"]), url)
    assert response.status_code == 400, (url, response.content)
    assert codes(response) == [code]
    assert response.json()["errors"][0]["attr"] == "url"
    with tenant_scope(_tenant(people)):
        assert not WebhookEndpoint.objects.exists()


def _tenant(people):
    from atrium.tenants.models import Tenant

    return Tenant.objects.get(slug="alpha")


def test_https_is_required_when_the_setting_says_so(people, settings, receiver):
    settings.ATRIUM_WEBHOOK_REQUIRE_HTTPS = True
    response = _create(as_user(people["owner"]), receiver.url())
    assert (response.status_code, codes(response)) == (400, ["url_scheme_not_allowed"])
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1"
    https = _create(as_user(people["owner"]), f"https://127.0.0.1:{receiver.port}/hook")
    assert https.status_code == 201


def test_allowed_hosts_must_be_listed_as_written(people, settings, receiver):
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = "localhost"
    client = as_user(people["owner"])
    assert _create(client, receiver.url(host="localhost")).status_code == 201
    refused = _create(client, receiver.url(host="127.0.0.1"))
    assert codes(refused) == ["url_not_public"]


@pytest.mark.parametrize(
    ("events", "code"),
    [
        ([], "events_empty"),
        (["product.exploded"], "unknown_event_type"),
        (["product.created", "nope"], "unknown_event_type"),
    ],
)
def test_bad_event_lists_are_refused(people, receiver, events, code):
    response = _create(as_user(people["owner"]), receiver.url(), events=events)
    assert (response.status_code, codes(response)) == (400, [code])
    created = _create(as_user(people["owner"]), receiver.url())
    patched = as_user(people["owner"]).patch(
        f"{URL}{created.json()['id']}/", {"events": events}, format="json"
    )
    assert (patched.status_code, codes(patched)) == (400, [code])


def test_an_endpoint_may_be_created_disabled(people, receiver):
    created = _create(as_user(people["owner"]), receiver.url(), enabled=False)
    assert created.status_code == 201 and created.json()["enabled"] is False


def test_unknown_fields_are_refused(people, receiver):
    response = _create(as_user(people["owner"]), receiver.url(), secret="whsec_mine")
    assert response.status_code == 400 and codes(response) == ["unknown_field"]


def test_at_most_max_webhooks_per_tenant(people, receiver, settings):
    settings.ATRIUM_MAX_WEBHOOKS = 3
    client = as_user(people["owner"])
    for _ in range(3):
        assert _create(client, receiver.url()).status_code == 201
    refused = _create(client, receiver.url())
    assert (refused.status_code, codes(refused)) == (409, ["too_many_webhooks"])
    assert len(client.get(URL).json()["results"]) == 3


def test_a_test_event_is_delivered_signed_and_logged(
    people, receiver, django_capture_on_commit_callbacks
):
    client = as_user(people["owner"])
    created = _create(client, receiver.url()).json()
    receiver.secrets["/hook"] = [created["secret"]]
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(f"{URL}{created['id']}/test/")
    assert queued.status_code == 202 and queued.json()["event_type"] == "webhook.test"
    [got] = receiver.wait_for("/hook")
    assert got.verified is True
    assert got.payload["type"] == "webhook.test"
    assert set(got.payload) == {"type", "timestamp", "data"}
    assert got.headers["webhook-id"] == queued.json()["webhook_id"]
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
    log = client.get(f"{URL}{created['id']}/deliveries/").json()["results"]
    [delivery] = log
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 1
    [attempt] = delivery["attempts"]
    assert attempt["response_status"] == 200 and attempt["response_body"] == "ok"
    assert attempt["succeeded"] is True and attempt["duration_ms"] >= 0


def test_rotation_signs_with_both_secrets_for_a_day(
    people, receiver, django_capture_on_commit_callbacks, settings
):
    client = as_user(people["owner"])
    created = _create(client, receiver.url()).json()
    rotated = client.post(f"{URL}{created['id']}/rotate-secret/")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != created["secret"] and new.startswith("whsec_")
    assert rotated.json()["previous_secret_expires_at"] is not None
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{URL}{created['id']}/test/")
    [got] = receiver.wait_for("/hook")
    signatures = got.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (new, created["secret"]):  # a receiver on either secret verifies it
        Webhook(secret).verify(got.body, got.headers)
    # After the overlap, only the new secret signs.
    with tenant_scope(_tenant(people)):
        WebhookEndpoint.objects.filter(pk=created["id"]).update(
            previous_secret_expires_at="2000-01-01T00:00:00Z"
        )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{URL}{created['id']}/test/")
    second = receiver.wait_for("/hook", 2)[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(second.body, second.headers)


def test_retry_sends_the_same_webhook_id_again(
    people, receiver, django_capture_on_commit_callbacks
):
    client = as_user(people["owner"])
    created = _create(client, receiver.url()).json()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = client.post(f"{URL}{created['id']}/test/").json()
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"{URL}{created['id']}/deliveries/{delivery['id']}/retry/")
    assert again.status_code == 202
    first, second = receiver.wait_for("/hook", 2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["webhook_id"]
    assert first.body == second.body
    [row] = client.get(f"{URL}{created['id']}/deliveries/").json()["results"]
    assert row["attempt_count"] == 2 and len(row["attempts"]) == 2
    # Another endpoint's delivery id is not found under this one.
    other = _create(client, receiver.url("/other")).json()
    missing = client.post(f"{URL}{other['id']}/deliveries/{delivery['id']}/retry/")
    assert missing.status_code == 404


def test_a_disabled_endpoint_is_enabled_again_by_patch(people, receiver):
    client = as_user(people["owner"])
    created = _create(client, receiver.url()).json()
    with tenant_scope(_tenant(people)):
        WebhookEndpoint.objects.filter(pk=created["id"]).update(
            enabled=False, consecutive_failures=20, disabled_reason="20 consecutive failures"
        )
    refused = client.post(f"{URL}{created['id']}/test/")
    assert (refused.status_code, codes(refused)) == (409, ["webhook_disabled"])
    enabled = client.patch(f"{URL}{created['id']}/", {"enabled": True}, format="json").json()
    assert enabled["enabled"] is True and enabled["consecutive_failures"] == 0
    assert enabled["disabled_reason"] == ""


@pytest.mark.parametrize("page_size", [2, 5])
def test_the_delivery_log_costs_the_same_queries_whatever_its_size(
    people, receiver, page_size, django_assert_num_queries
):
    client = as_user(people["owner"])
    created = _create(client, receiver.url()).json()
    with tenant_scope(_tenant(people)):
        endpoint = WebhookEndpoint.objects.get(pk=created["id"])
        for _ in range(6):
            services.deliveries_record(
                endpoints=[endpoint], event_type="webhook.test", body={"type": "webhook.test"}
            )
    with django_assert_num_queries(5):  # search_path, endpoint, count, page, attempts
        response = client.get(f"{URL}{created['id']}/deliveries/?page_size={page_size}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size
    with tenant_scope(_tenant(people)):
        assert WebhookDelivery.objects.count() == 6
