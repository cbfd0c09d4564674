"""The event catalogue: every published payload matches its declared schema, events leave
after commit only, in their tenant's scope, and a failing sink never fails the write."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts import services as accounts
from atrium.platform.accounts.models import Role, User
from atrium.platform.events import Event, EventPayloadError, declare, event_types, publish
from atrium.platform.jobs import services as jobs
from atrium.tenants.context import NoTenantError, public_scope, tenant_scope
from tests import events_capture

RECORD = "tests.events_capture.record"
EXPLODE = "tests.events_capture.explode"
# The events the packages of this repository declare and publish from their services; the
# test below drives a real service call for each one and checks the payload it published.
DRIVEN = {
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "review.created",
    "job.succeeded",
    "job.failed",
    "user.created",
    "user.deactivated",
    "user.role_changed",
}


@pytest.fixture
def captured(settings):
    settings.ATRIUM_EVENT_SINKS = [RECORD]
    events_capture.clear()
    yield events_capture.received
    events_capture.clear()


def _types(captured) -> list[str]:
    return [event.type for _, event in captured]


@pytest.mark.django_db
def test_every_service_publishes_payloads_that_match_their_declared_schemas(
    tenant_a, captured, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant_a), django_capture_on_commit_callbacks(execute=True):
        owner = User.objects.get(email="owner@alpha.test")
        created = accounts.user_create(actor=owner, email="new@alpha.test", role=Role.MEMBER)
        member = created.user
        accounts.user_update(actor=owner, user=member, role=Role.ADMIN)
        accounts.user_deactivate(actor=owner, user=member)

        category = catalog.category_create(name="Tools")
        product = catalog.product_create(
            owner=owner, name="Anvil", sku="AN-1", price=Decimal("49.50"), category=category
        )
        catalog.product_update(product=product, price=Decimal("45"), status="active")
        catalog.review_create(author=owner, product=product, rating=4, title="Heavy")
        catalog.product_delete(product=product)
        catalog.product_restore(product=product)

        done = jobs.job_create(kind="catalog.export", created_by=owner)
        jobs.job_finish(job=done, result={"rows": 3})
        failed = jobs.job_create(kind="catalog.import", created_by=owner)
        jobs.job_fail(job_id=failed.pk, code="rows_refused", message="Correct the rows.")

    assert set(_types(captured)) == DRIVEN
    declared = {event_type.name: event_type for event_type in event_types()}
    for schema, event in captured:
        assert schema == tenant_a.schema_name
        errors = list(declared[event.type].validator.iter_errors(event.data))
        assert errors == [], (event.type, errors)
        assert event.version == declared[event.type].version

    by_type = {event.type: event for _, event in captured}
    assert by_type["user.created"].id == str(member.pk)
    assert by_type["user.created"].data == {
        "email": "new@alpha.test",
        "name": "",
        "role": "member",
        "is_active": True,
    }
    assert by_type["user.role_changed"].data["previous_role"] == "member"
    assert by_type["user.role_changed"].data["role"] == "admin"
    assert by_type["user.deactivated"].data["is_active"] is False
    assert by_type["product.updated"].data["fields"] == ["price", "status"]
    assert by_type["product.updated"].data["price"] == "45"
    assert by_type["review.created"].data["rating"] == 4
    assert by_type["job.succeeded"].data == {
        "kind": "catalog.export",
        "status": "succeeded",
        "result": {"rows": 3},
    }
    assert by_type["job.succeeded"].user_id == str(owner.pk)
    assert by_type["job.failed"].data["error"]["code"] == "rows_refused"


def test_every_declared_event_has_a_version_a_description_and_a_strict_schema():
    names = {event_type.name for event_type in event_types()}
    assert names >= DRIVEN
    for event_type in event_types():
        assert event_type.version >= 1 and event_type.description
        if event_type.name not in DRIVEN:
            continue
        assert event_type.schema["type"] == "object"
        assert event_type.schema.get("additionalProperties") is False, event_type.name


@pytest.mark.django_db
def test_a_payload_that_does_not_match_its_schema_raises_when_validation_is_on(
    tenant_a, captured, settings, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant_a):
        product = {
            "name": "Anvil",
            "slug": "anvil",
            "sku": "AN-1",
            "price": 3,
            "status": "draft",
            "category_id": str(uuid.uuid4()),
        }
        with pytest.raises(EventPayloadError, match=r"product.created v1.* at price: 3 is not"):
            publish("product.created", id="1", data=product)
        with pytest.raises(EventPayloadError, match="'slug' is a required property"):
            publish(
                "product.created", id="1", data={k: v for k, v in product.items() if k != "slug"}
            )
        with pytest.raises(EventPayloadError, match="Additional properties"):
            publish(
                "job.succeeded",
                id="1",
                data={"kind": "k", "status": "succeeded", "result": {}, "secret": "x"},
                user_id=uuid.uuid4(),
            )
        settings.ATRIUM_EVENTS_VALIDATE = False  # production: published as given
        with django_capture_on_commit_callbacks(execute=True):
            publish("review.created", id="1", data={"rating": "five"})
    assert _types(captured) == ["review.created"]


@pytest.mark.django_db
def test_an_unknown_event_type_raises(tenant_a, captured):
    with tenant_scope(tenant_a):
        for name in ("product.exploded", "Product.Created", "", None):
            with pytest.raises(ValueError, match="Unknown event type"):
                publish(name, id=1, data={})
    assert captured == []


def test_publishing_needs_a_tenant(captured, db):
    with pytest.raises(NoTenantError):
        publish("review.created", id=1, data={})
    with public_scope(), pytest.raises(NoTenantError):
        publish("review.created", id=1, data={})


@pytest.mark.django_db
def test_a_user_event_needs_the_user_it_is_for(tenant_a, captured):
    data = {"kind": "k", "status": "succeeded", "result": {}}
    with tenant_scope(tenant_a), pytest.raises(ValueError, match="user_id"):
        publish("job.succeeded", id=1, data=data)


def test_declaring_an_event_twice_differently_raises():
    schema = {"type": "object", "additionalProperties": False}
    first = declare("test_events.declared", schema=schema, description="Twice.")
    assert declare("test_events.declared", schema=schema, description="Twice.") is first
    with pytest.raises(ValueError, match="declared twice"):
        declare("test_events.declared", version=2, schema=schema, description="Twice.")
    with pytest.raises(ValueError, match="Invalid event type"):
        declare("pong", schema=schema, description="The socket protocol's own.")
    with pytest.raises(Exception, match=r"is not valid under any of the given schemas|type"):
        declare("test_events.broken", schema={"type": "no-such-type"}, description="Broken.")


def _product_created(tenant, sku: str) -> None:
    with tenant_scope(tenant):
        owner = User.objects.get(email="owner@alpha.test")
        category = catalog.category_create(name=f"Cat {sku}")
        catalog.product_create(
            owner=owner, name=sku, sku=sku, price=Decimal("1.00"), category=category
        )


def _cleanup(tenant) -> None:
    from atrium.apps.catalog.models import Category, Product

    with tenant_scope(tenant):
        Product.all_objects.filter(sku__startswith="EV-").delete()
        Category.all_objects.filter(name__startswith="Cat EV-").delete()


@pytest.fixture
def committed_catalog(live_db, tenant_a):
    _cleanup(tenant_a)
    yield
    _cleanup(tenant_a)


def test_a_rolled_back_write_publishes_nothing_and_a_committed_one_after_commit(
    tenant_a, captured, committed_catalog
):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _product_created(tenant_a, "EV-ROLLED-BACK")
        _ = 1 / 0
    assert captured == []
    with transaction.atomic():
        _product_created(tenant_a, "EV-COMMITTED")
        assert captured == []  # not before the commit
    assert [(event.type, event.data["sku"]) for _, event in captured] == [
        ("product.created", "EV-COMMITTED")
    ]
    assert captured[0][0] == tenant_a.schema_name  # the sink ran in the tenant's scope


def test_a_raising_sink_is_logged_and_neither_fails_the_write_nor_the_other_sinks(
    tenant_a, captured, settings, caplog, committed_catalog
):
    settings.ATRIUM_EVENT_SINKS = [EXPLODE, RECORD]
    with caplog.at_level(logging.ERROR, logger="atrium.platform.events.bus"):
        _product_created(tenant_a, "EV-SINK")
    assert "sink tests.events_capture.explode failed on product.created" in caplog.text
    assert _types(captured) == ["product.created"]
    from atrium.apps.catalog.models import Product

    with tenant_scope(tenant_a):
        assert Product.objects.filter(sku="EV-SINK").exists()


def test_the_envelope_and_the_webhook_body():
    ts = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)
    event = Event(
        type="product.created", version=1, id="p1", data={"name": "Anvil"}, ts=ts, user_id=None
    )
    assert event.envelope() == {
        "type": "product.created",
        "id": "p1",
        "data": {"name": "Anvil"},
        "ts": "2026-12-07T14:00:00+00:00",
    }
    assert event.webhook_body() == {
        "type": "product.created",
        "timestamp": "2026-12-07T14:00:00+00:00",
        "data": {"id": "p1", "name": "Anvil"},
    }


@pytest.mark.django_db
def test_each_event_reaches_the_sinks_in_the_scope_of_the_tenant_that_published_it(
    tenant_a, tenant_b, captured, django_capture_on_commit_callbacks
):
    data = {"product_id": str(uuid.uuid4()), "author_id": str(uuid.uuid4()), "rating": 5}
    with django_capture_on_commit_callbacks(execute=True):
        # The scopes end before the commit; each sink still runs in its publisher's tenant.
        with tenant_scope(tenant_b):
            publish("review.created", id="b", data={**data, "title": "Beta"})
        with tenant_scope(tenant_a):
            publish("review.created", id="a", data={**data, "title": "Alpha"})
        assert captured == []
    assert [(schema, event.id) for schema, event in captured] == [
        (tenant_b.schema_name, "b"),
        (tenant_a.schema_name, "a"),
    ]


def test_publishing_from_an_event_loop_is_refused(tenant_a, db):
    import asyncio

    async def publish_in_loop() -> None:
        with tenant_scope(tenant_a):
            publish("review.created", id=1, data={})

    with pytest.raises(RuntimeError, match="blocking sinks"):
        asyncio.run(publish_in_loop())


# ------------------------------------------------------------ one batch per transaction

RECORD_OTHER = "tests.events_capture.record_other"
REVIEW = {"product_id": str(uuid.uuid4()), "author_id": str(uuid.uuid4()), "rating": 5}


@pytest.fixture
def batches(settings, live_db):
    """Two recording sinks and committed transactions; yields the first sink's calls."""
    settings.ATRIUM_EVENT_SINKS = [RECORD, RECORD_OTHER]
    events_capture.clear()
    yield events_capture.batches
    events_capture.clear()


def _review(tenant, name: str) -> None:
    with tenant_scope(tenant):
        publish("review.created", id=name, data={**REVIEW, "title": name})


def _calls(batches) -> list[tuple[str, list[str]]]:
    return [(schema, [event.id for event in events]) for schema, events in batches]


def test_a_transaction_s_events_reach_each_sink_once_in_publish_order(tenant_a, batches):
    ran = []
    with transaction.atomic():
        for n in range(5):
            _review(tenant_a, f"r{n}")
            # Another hook after each publish: the flush must still run after every event.
            transaction.on_commit(lambda n=n: ran.append(n))
        assert batches == []  # nothing before the commit
    expected = [(tenant_a.schema_name, ["r0", "r1", "r2", "r3", "r4"])]
    assert _calls(batches) == expected
    assert _calls(events_capture.other_batches) == expected
    assert ran == [0, 1, 2, 3, 4]


def test_an_event_of_a_rolled_back_savepoint_is_dropped_and_the_others_go(tenant_a, batches):
    with transaction.atomic():
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            _review(tenant_a, "first, rolled back")  # the batch begins in this savepoint
            _ = 1 / 0
        _review(tenant_a, "a")
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            _review(tenant_a, "b, rolled back")
            _review(tenant_a, "c, rolled back")
            _ = 1 / 0
        _review(tenant_a, "d")
        with transaction.atomic():
            _review(tenant_a, "e, in a released savepoint")
    assert _calls(batches) == [(tenant_a.schema_name, ["a", "d", "e, in a released savepoint"])]


def test_a_transaction_whose_every_event_was_rolled_back_calls_no_sink(tenant_a, batches):
    with transaction.atomic(), pytest.raises(ZeroDivisionError), transaction.atomic():
        _review(tenant_a, "gone")
        _ = 1 / 0
    assert batches == []


def test_a_rolled_back_transaction_drops_all_its_events_and_the_next_one_starts_afresh(
    tenant_a, batches
):
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        _review(tenant_a, "x")
        _review(tenant_a, "y")
        _ = 1 / 0
    assert batches == []
    with transaction.atomic():
        _review(tenant_a, "z")
    assert _calls(batches) == [(tenant_a.schema_name, ["z"])]


def test_outside_a_transaction_each_event_goes_at_once(tenant_a, batches):
    _review(tenant_a, "one")
    assert _calls(batches) == [(tenant_a.schema_name, ["one"])]
    _review(tenant_a, "two")
    assert _calls(batches) == [(tenant_a.schema_name, ["one"]), (tenant_a.schema_name, ["two"])]


def test_a_transaction_that_published_for_two_tenants_calls_each_sink_per_tenant(
    tenant_a, tenant_b, batches
):
    with transaction.atomic():
        _review(tenant_b, "b1")
        _review(tenant_a, "a1")
        _review(tenant_b, "b2")
    # Each call ran in its tenant's scope (the sink reads current_tenant()).
    expected = [(tenant_b.schema_name, ["b1", "b2"]), (tenant_a.schema_name, ["a1"])]
    assert _calls(batches) == expected
    assert _calls(events_capture.other_batches) == expected


@pytest.mark.django_db
def test_captured_commit_hooks_send_each_event_once(
    tenant_a, captured, django_capture_on_commit_callbacks
):
    """Tests run the hooks of a transaction that never commits, block after block (the
    hooks stay registered): each block's events go once, none run twice."""
    _review(tenant_a, "registered, never run")  # a hook outside any capture block
    with django_capture_on_commit_callbacks(execute=True):
        _review(tenant_a, "first")
    with django_capture_on_commit_callbacks(execute=True):
        _review(tenant_a, "second")
        _review(tenant_a, "third")
    assert _calls(events_capture.batches) == [
        (tenant_a.schema_name, ["first"]),
        (tenant_a.schema_name, ["second", "third"]),
    ]
