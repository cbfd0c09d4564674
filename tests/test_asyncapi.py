"""/api/asyncapi/: the event catalogue as an AsyncAPI 3.0.0 document, valid against the
official JSON Schema, covering every declared event on the WebSocket and as webhooks."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import User
from atrium.platform.events import event_types
from atrium.tenants.context import tenant_scope
from tests import events_capture

OFFICIAL_SCHEMA = json.loads(
    (Path(__file__).parent / "asyncapi" / "asyncapi-3.0.0-without-id.json").read_text()
)


def _document(host: str = "alpha.localhost") -> dict:
    response = APIClient(HTTP_HOST=host).get("/api/asyncapi/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _resolve(document: dict, ref: dict) -> dict:
    node = document
    for part in ref["$ref"].removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.django_db
def test_the_document_is_valid_asyncapi_3_without_authentication(tenant_a):
    document = _document()
    validator = Draft7Validator(OFFICIAL_SCHEMA)
    errors = [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)
    ]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["tenant"] == {
        **document["servers"]["tenant"],
        "host": "alpha.localhost",
        "protocol": "ws",
    }
    assert document["channels"]["events"]["address"] == "/ws/events/"
    # The official schema does not follow references: every one must lead somewhere.
    refs = list(_refs(document))
    assert len(refs) > 3 * len(event_types())
    for ref in refs:
        assert isinstance(_resolve(document, ref), dict), ref
    # Control: the official schema does refuse a broken document.
    broken = copy.deepcopy(document)
    broken["channels"]["events"]["address"] = 42
    del broken["info"]["title"]
    assert len(list(validator.iter_errors(broken))) >= 2


@pytest.mark.django_db
def test_every_declared_event_is_documented_on_the_socket_and_as_a_webhook(tenant_a):
    document = _document()
    declared = {event.name: event for event in event_types()}
    socket = document["channels"]["events"]["messages"]
    webhooks = document["channels"]["webhooks"]["messages"]
    assert set(declared) <= set(socket) and set(declared) == set(webhooks)
    for name, event in declared.items():
        on_socket = _resolve(document, socket[name])
        assert on_socket["payload"]["properties"]["data"] == event.schema
        assert on_socket["x-event-version"] == event.version
        webhook = _resolve(document, webhooks[name])
        headers = _resolve(document, webhook["headers"])
        assert set(headers["required"]) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert webhook["payload"]["required"] == ["type", "timestamp", "data"]
    receive = document["operations"]["receiveWebhooks"]
    assert len(receive["messages"]) == len(declared)
    security = document["components"]["securitySchemes"]["bearerSubprotocol"]
    assert security["name"] == "Sec-WebSocket-Protocol"


@pytest.mark.django_db
def test_what_is_sent_matches_the_documented_messages(
    tenant_a, settings, django_capture_on_commit_callbacks
):
    """A real product.created, as the socket and a webhook carry it, validates against the
    payloads the document gives them (and a tampered one does not)."""
    settings.ATRIUM_EVENT_SINKS = ["tests.events_capture.record"]
    events_capture.clear()
    with tenant_scope(tenant_a), django_capture_on_commit_callbacks(execute=True):
        owner = User.objects.get(email="owner@alpha.test")
        category = catalog.category_create(name="Docs")
        catalog.product_create(
            owner=owner, name="Anvil", sku="DOC-1", price=Decimal("9.90"), category=category
        )
    [(_, event)] = events_capture.received
    events_capture.clear()
    document = _document()
    messages = document["components"]["messages"]
    socket_payload = Draft202012Validator(messages["socket.product.created"]["payload"])
    webhook_payload = Draft202012Validator(messages["webhook.product.created"]["payload"])
    envelope = json.loads(json.dumps(event.envelope()))
    body = json.loads(json.dumps(event.webhook_body()))
    assert list(socket_payload.iter_errors(envelope)) == []
    assert list(webhook_payload.iter_errors(body)) == []
    assert body["data"]["id"] == envelope["id"]
    assert not socket_payload.is_valid({**envelope, "type": "product.deleted"})
    assert not webhook_payload.is_valid({**body, "data": {**body["data"], "price": 9.9}})


@pytest.mark.django_db
def test_the_openapi_description_links_to_it(tenant_a):
    schema = yaml.safe_load(APIClient(HTTP_HOST="alpha.localhost").get("/api/schema/").content)
    assert schema["externalDocs"]["url"] == "/api/asyncapi/"
    assert "/api/asyncapi/" in schema["info"]["description"]


@pytest.mark.django_db
def test_only_tenant_hosts_serve_it(tenant_a):
    assert APIClient(HTTP_HOST="localhost").get("/api/asyncapi/").status_code == 404
    assert _document("beta.localhost")["servers"]["tenant"]["host"] == "beta.localhost"
