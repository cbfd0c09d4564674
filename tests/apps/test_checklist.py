"""The README's "new tenant app" checklist holds: notes (``tests/apps/notes``), built by
following it and named nowhere but in its own folder and the test settings' ``TENANT_APPS``,
has its tables in every tenant schema, its API mounted, and its routes in the cross-tenant
matrices of ``tests/isolation``, which know nothing of it."""

from pathlib import Path

import pytest
from django.db import connection

from atrium.tenants.context import public_scope, tenant_scope
from tests.isolation.conftest import World, api, tenant_rows
from tests.isolation.test_object_ids import id_routes, refuse_foreign_ids
from tests.isolation.test_tokens import protected_paths, refuse_foreign_tokens

from .notes.models import Note

ROOT = Path(__file__).resolve().parents[2]
NOTES = ["/api/v1/notes/", "/api/v1/notes/{id}/"]


def test_nothing_outside_the_app_names_it_but_the_test_settings():
    naming = {
        str(path.relative_to(ROOT))
        for folder in ("atrium", "config", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if "tests.apps.notes" in path.read_text() or "/api/v1/notes" in path.read_text()
    }
    inside = {name for name in naming if name.startswith("tests/apps/")}
    assert naming - inside == {"config/settings/test.py"}


@pytest.mark.django_db
def test_its_table_is_in_every_tenant_schema_and_not_in_public(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            assert Note.objects.count() >= 0  # the table is there
    with public_scope(), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.notes_note')")
        assert cursor.fetchone()[0] is None


@pytest.mark.django_db
def test_the_isolation_matrices_cover_its_routes(alpha: World, beta: World, roomy_limits):
    assert set(NOTES) <= set(protected_paths())
    note_routes = [route for route in id_routes() if route[1] in NOTES]
    assert {method for method, _ in note_routes} == {"GET", "PATCH", "DELETE"}
    assert "notes.Note" in tenant_rows(beta.tenant)  # in every before/after snapshot
    refuse_foreign_tokens(alpha, beta, NOTES)
    refuse_foreign_ids(alpha, beta, note_routes)
    # Control: beta's own token reaches beta's note, which alpha's could not.
    note = beta.app_ids["/api/v1/notes/{id}/"]
    response = api(beta.host, beta.tokens.access).get(f"/api/v1/notes/{note}/")
    assert (response.status_code, response.json()["body"]) == (200, "beta")


@pytest.mark.django_db
def test_its_api_writes_through_its_services(alpha: World):
    client = alpha.client()
    created = client.post("/api/v1/notes/", {"title": "Plan", "body": "b"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["author"] == str(alpha.owner.pk)
    url = f"/api/v1/notes/{created.json()['id']}/"
    assert client.patch(url, {"title": "Plan B"}, format="json").json()["title"] == "Plan B"
    assert client.post("/api/v1/notes/", {"author": "x"}, format="json").status_code == 400
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
