"""The audit log API: owners and admins only, filters, one entry, 405 on every write,
cursor pages that stay stable while entries are added, flat query cost, the export job."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from atrium.platform.audit.actions import ACTIONS
from atrium.platform.audit.models import AuditEvent
from atrium.platform.audit.services import Actor, audit_record
from atrium.tenants.context import tenant_scope
from tests.fixtures import OWNER_PASSWORD, client_for

URL = "/api/v1/audit-events/"
JOBS = "/api/v1/jobs/"


def make_entries(count: int, *, start=None, **fields) -> list[AuditEvent]:
    """``count`` entries one second apart, the newest last (``at`` is set at insert: the
    trigger refuses to change it afterwards)."""
    start = start or timezone.now() - timedelta(days=1)
    defaults = {"action": "product.updated", "actor_type": "system", "target_type": "t"}
    return AuditEvent.objects.bulk_create(
        AuditEvent(at=start + timedelta(seconds=i), **{**defaults, **fields}) for i in range(count)
    )


@pytest.mark.django_db
def test_owners_and_admins_read_members_do_not(tenant_a, alpha_users):
    with tenant_scope(tenant_a):
        make_entries(2)
    for role in ("owner", "admin"):
        response = client_for(alpha_users[role]).get(URL)
        assert response.status_code == 200, role
        assert len(response.json()["results"]) == 2
    member = client_for(alpha_users["member"])
    assert member.get(URL).status_code == 403
    assert member.post(URL + "exports/", {"format": "csv"}).status_code == 403


@pytest.mark.django_db
def test_an_api_write_records_its_actor_ip_agent_and_request_id(tenant_a, alpha_users):
    owner = client_for(alpha_users["owner"])
    response = owner.patch(
        f"/api/v1/users/{alpha_users['member'].pk}/",
        {"role": "admin"},
        HTTP_USER_AGENT="pytest-agent/1.0",
        HTTP_X_REQUEST_ID="req-audit-1",
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 200
    [entry] = owner.get(URL, {"action": "user.role_changed"}).json()["results"]
    assert entry["actor_type"] == "user"
    assert entry["actor_id"] == str(alpha_users["owner"].pk)
    assert entry["actor_label"] == "owner@alpha.test"
    assert (entry["target_type"], entry["target_id"], entry["target_label"]) == (
        "accounts.user",
        str(alpha_users["member"].pk),
        "member@alpha.test",
    )
    assert entry["changes"] == {"role": ["member", "admin"]}
    assert (entry["ip"], entry["user_agent"], entry["request_id"]) == (
        "198.51.100.7",
        "pytest-agent/1.0",
        "req-audit-1",
    )
    assert owner.get(f"{URL}{entry['id']}/").json() == entry


@pytest.mark.django_db
def test_filters(tenant_a, alpha_users):
    now = timezone.now()
    with tenant_scope(tenant_a):
        old = make_entries(3, start=now - timedelta(days=10), action="auth.login", actor_id="a1")
        mid = make_entries(
            2, start=now - timedelta(days=5), target_type="catalog.product", target_id="p1"
        )
        new = make_entries(1, start=now - timedelta(hours=1), action="auth.logout", actor_id="a1")
    client = client_for(alpha_users["admin"])

    def ids(**params) -> list[str]:
        response = client.get(URL, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    def expected(entries) -> list[str]:
        return [str(e.pk) for e in sorted(entries, key=lambda e: e.at, reverse=True)]

    assert ids() == expected(old + mid + new)  # newest first
    assert ids(action="auth.login") == expected(old)
    assert ids(actor="a1") == expected(old + new)
    assert ids(actor_type="system") == expected(old + mid + new)
    assert ids(target_type="catalog.product", target_id="p1") == expected(mid)
    assert ids(since=(now - timedelta(days=6)).isoformat()) == expected(mid + new)
    assert ids(until=(now - timedelta(days=6)).isoformat()) == expected(old)
    assert ids(since=(now - timedelta(days=6)).isoformat(), until=now.isoformat()) == expected(
        mid + new
    )
    for bad in ({"action": "product.exploded"}, {"since": "yesterday"}, {"cursor": "%%%"}):
        response = client.get(URL, bad)
        assert response.status_code == 400, bad
        assert response.json()["type"] == "validation_error"
    assert client.get(f"{URL}00000000-0000-0000-0000-000000000000/").status_code == 404


@pytest.mark.django_db
def test_a_page_renders_each_entry_exactly_as_its_detail(tenant_a, alpha_users):
    """The list's pages are rendered by PostgreSQL, an entry by AuditEventSerializer: the
    two agree on the values whose text differs most between them."""
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    with tenant_scope(tenant_a):
        for index, (ip, label) in enumerate(
            [
                (None, 'quote " backslash \\ newline \n tab \t bell \x07'),
                ("203.0.113.7", "Zürich ☃ 😀"),
                ("2001:db8::1", ""),
                ("2001:db8:0:1:1:1:1:1", "x"),
                ("::ffff:192.0.2.1", "y"),
            ]
        ):
            AuditEvent.objects.create(
                at=start + timedelta(seconds=index, microseconds=(0, 1, 120000, 999999, 0)[index]),
                actor_type="user",
                actor_id=f"a{index}",
                actor_label=label,
                action="product.updated",
                target_type="catalog.product",
                target_label=label,
                ip=ip,
                changes={"price": ["1.50", 2.5], "tags": [[], {"b": None, "a": True}], "n": 10**20},
                metadata={"via": label, "é": [1, 2.0, -0.5]},
            )
    client = client_for(alpha_users["owner"])
    page = client.get(URL, {"page_size": 2})
    listed = page.json()["results"] + client.get(page.json()["next"]).json()["results"]
    listed += client.get(client.get(page.json()["next"]).json()["next"]).json()["results"]
    assert len(listed) == 5
    assert [e["at"][19:] for e in listed] == ["Z", ".999999Z", ".120000Z", ".000001Z", "Z"]
    for entry in listed:
        assert client.get(f"{URL}{entry['id']}/").json() == entry


@pytest.mark.django_db
def test_a_cursor_without_a_time_zone_is_refused(tenant_a, alpha_users):
    import base64

    naive = base64.urlsafe_b64encode(b"2026-01-01T00:00:00|" + b"0" * 32).decode()
    response = client_for(alpha_users["owner"]).get(URL, {"cursor": naive})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "cursor"


@pytest.mark.django_db
def test_every_write_method_answers_405(tenant_a, alpha_users):
    with tenant_scope(tenant_a):
        [entry] = make_entries(1)
    client = client_for(alpha_users["owner"])
    assert client.post(URL, {"action": "auth.login"}).status_code == 405
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(URL).status_code == 405, method
        assert getattr(client, method)(f"{URL}{entry.pk}/", {}).status_code == 405, method
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.get().action == "product.updated"


@pytest.mark.django_db
def test_cursor_pages_neither_repeat_nor_skip_while_entries_are_added(tenant_a, alpha_users):
    with tenant_scope(tenant_a):
        # Two entries share a timestamp: the id breaks the tie.
        entries = make_entries(7)
        twin = AuditEvent.objects.create(at=entries[3].at, action="auth.login", actor_type="system")
    snapshot = [
        str(e.pk) for e in sorted([*entries, twin], key=lambda e: (e.at, e.pk), reverse=True)
    ]
    client = client_for(alpha_users["owner"])
    seen = []
    page = client.get(URL, {"page_size": 3}).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        with tenant_scope(tenant_a):  # concurrent writers: newer entries arrive meanwhile
            audit_record("auth.login", actor=Actor.system())
        if page["next"] is None:
            break
        page = client.get(page["next"]).json()
    assert seen == snapshot


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", [5, 50])
def test_a_page_costs_the_same_queries_whatever_its_size(
    tenant_a, alpha_users, page_size, django_assert_num_queries
):
    with tenant_scope(tenant_a):
        make_entries(2 * page_size + 1)
    client = client_for(alpha_users["owner"])
    first = client.get(URL, {"page_size": page_size}).json()
    # The tenant's search_path and one SELECT for the page (no COUNT), whatever its size.
    with django_assert_num_queries(2):
        response = client.get(first["next"])
    assert len(response.json()["results"]) == page_size


@pytest.mark.django_db
def test_the_action_filter_documents_the_vocabulary(tenant_a, alpha_users):
    schema = client_for(alpha_users["owner"]).get("/api/schema/?format=json").json()
    parameters = schema["paths"][URL]["get"]["parameters"]
    [action] = [p for p in parameters if p["name"] == "action"]
    assert set(action["schema"]["enum"]) == set(ACTIONS)


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_export_through_the_jobs_api(tenant_a, alpha_users, run_jobs, file_storage, fmt):
    with tenant_scope(tenant_a):
        make_entries(3, target_label="=HYPERLINK(1)", changes={"name": ["a", "b"]})
    client = client_for(alpha_users["admin"])
    with run_jobs():
        accepted = client.post(URL + "exports/", {"format": fmt})
    assert accepted.status_code == 202
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    # The export itself is recorded: 3 entries + audit.exported.
    assert job["result"] == {"rows": 4, "format": fmt, "filters": {}}
    download = client.get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith(
        "application/x-ndjson" if fmt == "ndjson" else "text/csv"
    )
    assert download["Content-Disposition"].endswith(f'.{fmt}"')
    text = b"".join(download.streaming_content).decode()
    if fmt == "ndjson":
        rows = [json.loads(line) for line in text.splitlines()]
        assert rows[0]["action"] == "audit.exported"
        assert rows[1]["changes"] == {"name": ["a", "b"]}
        assert rows[1]["target_label"] == "=HYPERLINK(1)"
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[1]["target_label"] == "'=HYPERLINK(1)"  # never a formula
        assert json.loads(rows[1]["changes"]) == {"name": ["a", "b"]}
    assert len(rows) == 4
    # The download is recorded too.
    downloads = client.get(URL, {"action": "export.downloaded"}).json()["results"]
    assert [(d["target_id"], d["actor_label"]) for d in downloads] == [
        (job["id"], "admin@alpha.test")
    ]


@pytest.mark.django_db
def test_the_tenant_admin_shows_the_log_read_only(tenant_a, alpha_users):
    with tenant_scope(tenant_a):
        [entry] = make_entries(1, target_label="Rocket skates")
    client = Client(HTTP_HOST="alpha.localhost")
    signed_in = client.post(
        "/admin/login/", {"username": "owner@alpha.test", "password": OWNER_PASSWORD}
    )
    assert signed_in.status_code == 302
    listing = client.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "Rocket skates" in page and "auth.login" in page  # the admin sign-in itself
    detail = client.get(f"/admin/audit/auditevent/{entry.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{entry.pk}/delete/").status_code == 403
    with tenant_scope(tenant_a):
        login = AuditEvent.objects.get(action="auth.login")
        assert AuditEvent.objects.get(pk=entry.pk).target_label == "Rocket skates"
    assert (login.actor_label, login.metadata) == ("owner@alpha.test", {"via": "admin"})


def export_job(client, run_jobs, body: dict) -> dict:
    """Export with ``body``: the finished job."""
    with run_jobs():
        accepted = client.post(URL + "exports/", body, format="json")
    assert accepted.status_code == 202, accepted.json()
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    return job


def downloaded_rows(client, job: dict) -> list[dict]:
    text = b"".join(client.get(job["download_url"]).streaming_content).decode()
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.django_db
def test_the_export_takes_the_lists_filters(tenant_a, alpha_users, run_jobs, file_storage):
    now = timezone.now()
    with tenant_scope(tenant_a):
        make_entries(3, start=now - timedelta(days=10), action="auth.login", actor_id="a1")
        make_entries(
            2, start=now - timedelta(days=5), target_type="catalog.product", target_id="p1"
        )
        make_entries(1, start=now - timedelta(hours=1), action="auth.logout", actor_id="a1")
    client = client_for(alpha_users["admin"])
    since = (now - timedelta(days=6)).isoformat()
    for filters, expected in [
        ({"action": "auth.login"}, 3),
        ({"actor": "a1"}, 4),
        ({"target_type": "catalog.product", "target_id": "p1"}, 2),
        ({"since": since, "until": now.isoformat()}, 3),
        ({"until": since, "actor_type": "system"}, 3),
        ({"action": "", "actor": ""}, None),  # empty: no filter, as in the list
    ]:
        job = export_job(client, run_jobs, {"format": "ndjson", **filters})
        # The list, with the same filters as query parameters, after the export ran (both
        # include its audit.exported entry when the filters select it) and before the
        # download (which is recorded too).
        listed = client.get(URL, {**filters, "page_size": 200}).json()["results"]
        rows = downloaded_rows(client, job)
        assert [row["id"] for row in rows] == [entry["id"] for entry in listed], filters
        if expected is not None:
            assert len(rows) == expected, filters
        given = {name: value for name, value in filters.items() if value}
        assert job["result"]["rows"] == len(rows)
        assert set(job["result"]["filters"]) == set(given), job["result"]
    # The filters the job applied are in its own audit entry too.
    with tenant_scope(tenant_a):
        recorded = AuditEvent.objects.filter(action="audit.exported").order_by("at").first()
    assert recorded.metadata == {"filters": {"action": "auth.login"}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        {"action": "product.exploded"},
        {"actor_type": "robot"},
        {"since": "yesterday"},
        {"until": "2026-13-01T00:00:00Z"},
    ],
)
def test_the_export_refuses_what_the_list_refuses(tenant_a, alpha_users, bad):
    client = client_for(alpha_users["admin"])
    listed = client.get(URL, bad)
    exported = client.post(URL + "exports/", {"format": "csv", **bad}, format="json")
    assert listed.status_code == exported.status_code == 400
    assert exported.json() == listed.json()
    [error] = exported.json()["errors"]
    assert (error["attr"], error["code"]) == (
        next(iter(bad)),
        "invalid_choice" if "action" in bad or "actor_type" in bad else "invalid",
    )
    with tenant_scope(tenant_a):
        assert not AuditEvent.objects.filter(action="audit.exported").exists()  # no job
