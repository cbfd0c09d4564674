"""Export and import jobs: 202 + job, progress, per-tenant downloads, all-or-nothing imports.

Every test runs on both file storages (``ATRIUM_STORAGE``): the local filesystem, and an
S3-compatible server (moto's, a real process) as the compose stack's MinIO."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from atrium.apps.catalog import tasks
from atrium.apps.catalog.models import Category, Product
from atrium.platform.accounts.models import User
from atrium.platform.jobs import storage
from atrium.platform.redis import tenant_lock
from atrium.tenants.context import tenant_scope
from tests.fixtures import client_for

EXPORTS = "/api/v1/catalog/exports/"
IMPORTS = "/api/v1/catalog/imports/"
JOBS = "/api/v1/jobs/"
HEADER = "sku,name,description,price,stock,status,category,tags\n"


def upload(client, text: str | bytes, name: str = "products.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        IMPORTS, {"file": SimpleUploadedFile(name, data, "text/csv")}, format="multipart"
    )


@pytest.fixture(autouse=True)
def files(file_storage):
    """Each test once per storage backend."""
    return file_storage


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks):
    """Run what commits schedule (the job's task, eagerly) when the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.mark.django_db
def test_export_job_and_per_tenant_download(tenant_b, alpha_users, alpha_catalog, run_jobs, files):
    client = client_for(alpha_users["member"])
    with run_jobs():
        accepted = client.post(EXPORTS)
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    # Stored in the tenant's folder of the configured storage (a bucket with s3), only there.
    assert files.files() == [f"alpha/exports/{job_id}.csv"]
    assert accepted.json()["status"] == "queued"
    job = client.get(f"{JOBS}{job_id}/").json()
    assert (job["status"], job["progress"], job["result"]) == ("succeeded", 100, {"rows": 3})
    download = client.get(job["download_url"])
    assert download.status_code == 200
    content = b"".join(download.streaming_content).decode()
    assert content.splitlines()[0] == HEADER.strip()
    assert "RS-1,Rocket Skates" in content and len(content.splitlines()) == 4
    # Tenant beta cannot see the job nor fetch the file, even with the exact path.
    with tenant_scope(tenant_b):
        beta_owner = User.objects.get(email="owner@beta.test")
        with pytest.raises(PermissionError):
            storage.open_for_tenant(f"alpha/exports/{job_id}.csv")
    beta = client_for(beta_owner, host="beta.localhost")
    assert beta.get(f"{JOBS}{job_id}/").status_code == 404
    assert beta.get(job["download_url"]).status_code == 404
    # Another member of alpha does not follow someone else's job; admins do.
    assert client_for(alpha_users["other_member"]).get(f"{JOBS}{job_id}/").status_code == 404
    assert client_for(alpha_users["admin"]).get(f"{JOBS}{job_id}/").status_code == 200


@pytest.mark.django_db
def test_import_creates_and_updates_by_sku(tenant_a, alpha_users, alpha_catalog, run_jobs, files):
    client = client_for(alpha_users["member"])
    csv_text = HEADER + (
        "gm-1,Giant Magnet MkII,,210.00,9,active,garden,fast;heavy\n"  # the member's own
        "NEW-1,Portable Hole,Black,15.5,100,active,tools,\n"
    )
    with run_jobs():
        accepted = upload(client, csv_text)
    assert accepted.status_code == 202, accepted.json()
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert (job["status"], job["result"]) == ("succeeded", {"created": 1, "updated": 1})
    assert files.files() == []  # the upload was read from the storage, then deleted
    with tenant_scope(tenant_a):
        magnet = Product.objects.get(sku__iexact="GM-1")
        hole = Product.objects.select_related("category", "owner").get(sku="NEW-1")
    assert (magnet.name, str(magnet.price), magnet.stock) == ("Giant Magnet MkII", "210.00", 9)
    assert (hole.category.slug, hole.owner.email) == ("tools", "member@alpha.test")


@pytest.mark.parametrize(
    ("rows", "line", "field"),
    [
        ("X-1,Thing,,12.x,1,active,tools,\n", 2, "price"),
        ("X-1,Thing,,-1,1,active,tools,\n", 2, "price"),
        ("X-1,Thing,,1,many,active,tools,\n", 2, "stock"),
        ("X-1,Thing,,1,1,sold,tools,\n", 2, "status"),
        ("X-1,Thing,,1,1,active,nowhere,\n", 2, "category"),
        ("X-1,Thing,,1,1,active,tools,\nx-1,Other,,1,1,active,tools,\n", 3, "sku"),
        ("X-1,,,1,1,active,tools,\n", 2, "name"),
    ],
)
@pytest.mark.django_db
def test_a_bad_row_fails_the_whole_import(
    tenant_a, alpha_users, alpha_catalog, run_jobs, rows, line, field
):
    client = client_for(alpha_users["member"])
    good_first = "OK-1,Fine,,1,1,active,tools,\n"
    with run_jobs():
        accepted = upload(client, HEADER + good_first + rows)
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert job["status"] == "failed"
    assert job["error"]["rows"][0]["line"] == line + 1  # the good first row shifts it
    assert job["error"]["rows"][0]["field"] == field
    with tenant_scope(tenant_a):
        assert not Product.objects.filter(sku__in=["OK-1", "X-1"]).exists()
        assert Product.objects.count() == 3


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("sku,name,price\nX,Y,1\n", "missing_columns"),
        ("nom;prix\n", "missing_columns"),
        (b"sku,name,price,category\n\xff\xfeX,\xe9,1,tools\n", "invalid_encoding"),
    ],
)
@pytest.mark.django_db
def test_unreadable_uploads_are_refused_at_once(alpha_users, alpha_catalog, content, code):
    response = upload(client_for(alpha_users["member"]), content)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code
    assert response.json()["errors"][0]["attr"] == "file"


@pytest.mark.django_db
def test_oversized_upload_is_refused(alpha_users, alpha_catalog, settings):
    settings.ATRIUM_IMPORT_MAX_BYTES = 100
    response = upload(client_for(alpha_users["member"]), HEADER + "x" * 200)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "file_too_large"


@pytest.mark.django_db
def test_a_body_past_the_request_limit_is_refused_before_it_is_parsed(
    alpha_users, alpha_catalog, settings
):
    """Django's upload handlers see the declared length first: past the limit, no part of
    the body is parsed into a file (the real server's door is tested in test_upload_limits)."""
    settings.ATRIUM_REQUEST_MAX_BYTES = 1024
    response = upload(client_for(alpha_users["member"]), HEADER + "x" * 2000)
    assert response.status_code == 413
    assert response.json()["errors"] == [
        {
            "code": "request_too_large",
            "detail": response.json()["errors"][0]["detail"],
            "attr": None,
        }
    ]
    assert upload(client_for(alpha_users["member"]), "x" * 500).status_code == 400  # under it
    schema = yaml.safe_load(client_for(alpha_users["member"]).get("/api/schema/").content)
    documented = schema["paths"][IMPORTS]["post"]["responses"]["413"]["description"]
    assert "request_too_large" in documented and "file_too_large" in documented


@pytest.mark.django_db
def test_two_imports_of_one_tenant_never_run_at_once(
    tenant_a, tenant_b, alpha_users, alpha_catalog, run_jobs
):
    client = client_for(alpha_users["member"])
    with tenant_scope(tenant_a), tenant_lock("catalog-import", timeout=30), run_jobs():
        accepted = upload(client, HEADER + "L-1,Locked,,1,1,active,tools,\n")
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert (job["status"], job["error"]["code"]) == ("failed", "lock_held")
    # Beta imports while alpha's lock is held: tenants do not share the lock.
    with tenant_scope(tenant_b):
        beta_owner = User.objects.get(email="owner@beta.test")
        from atrium.apps.catalog import services

        services.category_create(name="Tools")
    beta = client_for(beta_owner, host="beta.localhost")
    with tenant_scope(tenant_a), tenant_lock("catalog-import", timeout=30), run_jobs():
        accepted = upload(beta, HEADER + "B-1,Beta thing,,1,1,active,tools,\n")
    assert beta.get(f"{JOBS}{accepted.json()['id']}/").json()["status"] == "succeeded"


@pytest.mark.django_db
def test_nightly_purge_hard_deletes_old_soft_deleted_rows(tenant_a, alpha_users, alpha_catalog):
    products = alpha_catalog["products"]
    with tenant_scope(tenant_a):
        from atrium.apps.catalog import services

        services.product_delete(product=products["anvil"])
        services.product_delete(product=products["magnet"])
        Product.all_objects.filter(pk=products["anvil"].pk).update(
            deleted_at=timezone.now() - timedelta(days=31)
        )
        counts = tasks.purge_deleted.delay().get()
        assert counts["product"] == 1
        assert not Product.all_objects.filter(pk=products["anvil"].pk).exists()
        assert Product.all_objects.filter(pk=products["magnet"].pk).exists()  # too recent
        assert Category.objects.count() == 2


@pytest.mark.django_db
def test_import_applies_the_apis_permission_rules_row_by_row(
    tenant_a, alpha_users, alpha_catalog, run_jobs
):
    """A member's PATCH of the owner's product is a 403; so is an import row with its SKU."""
    skates = alpha_catalog["products"]["skates"]  # the owner's
    member = client_for(alpha_users["member"])
    assert (
        member.patch(f"/api/v1/catalog/products/{skates.pk}/", {"name": "Mine"}).status_code == 403
    )
    csv_text = HEADER + (
        "GM-1,Giant Magnet II,,81.00,2,draft,tools,\n"  # the member's own: allowed
        "NEW-9,Brand new,,1.00,1,active,tools,\n"  # a create: any member may
        "rs-1,Hijacked,,0.01,1,active,garden,\n"  # the owner's: refused
        "AN-1,Hijacked too,,0.01,1,active,tools,\n"  # the owner's: refused
    )
    with run_jobs():
        accepted = upload(member, csv_text)
    job = member.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert job["status"] == "failed"
    assert [(row["line"], row["field"], row["code"]) for row in job["error"]["rows"]] == [
        (4, "sku", "permission_denied"),
        (5, "sku", "permission_denied"),
    ]
    with tenant_scope(tenant_a):  # all or nothing: not even the allowed rows were written
        assert Product.objects.get(sku="RS-1").name == "Rocket Skates"
        assert str(Product.objects.get(sku="AN-1").price) == "49.50"
        assert Product.objects.get(sku="GM-1").name == "Giant Magnet"
        assert not Product.objects.filter(sku="NEW-9").exists()
    # An admin may change any product, through the API and the import alike.
    admin = client_for(alpha_users["admin"])
    with run_jobs():
        accepted = upload(admin, HEADER + "rs-1,Renamed by admin,,150.00,1,active,garden,\n")
    job = admin.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert (job["status"], job["result"]) == ("succeeded", {"created": 0, "updated": 1})
    with tenant_scope(tenant_a):
        assert Product.objects.get(sku__iexact="RS-1").name == "Renamed by admin"


FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)"]


def export_rows(client, run_jobs) -> list[list[str]]:
    with run_jobs():
        accepted = client.post(EXPORTS)
    job = client.get(f"{JOBS}{accepted.json()['id']}/").json()
    content = b"".join(client.get(job["download_url"]).streaming_content).decode()
    return list(csv.reader(io.StringIO(content, newline="")))


@pytest.mark.django_db
def test_export_neutralises_formulas(tenant_a, alpha_users, alpha_catalog, run_jobs):
    tools = alpha_catalog["categories"]["tools"]
    with tenant_scope(tenant_a):
        from atrium.apps.catalog import services

        for index, formula in enumerate(FORMULAS):
            services.product_create(
                owner=alpha_users["owner"],
                name=formula,
                sku=f"{formula[0]}F-{index}",
                price=Decimal("1.00"),
                category=tools,
                description="\tnot a formula either" if index else "\rnor this",
                tags=[formula[0] + "tag"],
            )
    rows = export_rows(client_for(alpha_users["owner"]), run_jobs)
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert (
        "'=cmd|' /C calc'!A0" in cells
        and "'@SUM(A1)" in cells
        and "'\tnot a formula either" in cells
    )


@pytest.mark.django_db
def test_export_then_import_is_lossless_for_honest_data(
    tenant_a, alpha_users, alpha_catalog, run_jobs
):
    """The import removes exactly the quote the export added: honest values that start with
    a quote or a minus sign come back as they were."""
    tools = alpha_catalog["categories"]["tools"]
    honest = ["-20% sale", "'quoted' name", "'", "''", "'=already quoted", "-5", "plain", *FORMULAS]
    with tenant_scope(tenant_a):
        from atrium.apps.catalog import services

        for index, name in enumerate(honest):
            services.product_create(
                owner=alpha_users["owner"],
                name=name,
                sku=f"{name[:1]}H-{index}",
                price=Decimal("2.50"),
                category=tools,
                description=f"{name} described",
                tags=[f"{name[:1]}t{index}"],
            )
        fields = ("sku", "name", "description", "price", "stock", "status", "tags")
        before = sorted(Product.objects.values_list(*fields))
    owner = client_for(alpha_users["owner"])
    rows = export_rows(owner, run_jobs)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    with run_jobs():
        accepted = upload(owner, buffer.getvalue())
    job = owner.get(f"{JOBS}{accepted.json()['id']}/").json()
    assert (job["status"], job["result"]) == ("succeeded", {"created": 0, "updated": len(before)})
    with tenant_scope(tenant_a):
        assert sorted(Product.objects.values_list(*fields)) == before
    assert export_rows(owner, run_jobs) == rows


@given(st.text())
def test_unescape_undoes_exactly_what_escape_added(value):
    from atrium.apps.catalog.transfer import escape_cell, unescape_cell

    exported = escape_cell(value)
    assert not exported.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unescape_cell(exported) == value


@pytest.mark.django_db
def test_a_job_of_a_user_deactivated_before_it_ran_does_not_act(
    tenant_a, alpha_users, alpha_catalog, run_jobs
):
    """An admin's import and a member's export are queued, then their users are deactivated
    before a worker takes them: neither acts with its user's rights; both fail with
    ``user_inactive``, the upload is dropped and nothing is held."""
    from atrium.platform.accounts import services as accounts
    from atrium.platform.jobs.models import Job
    from atrium.platform.jobs.tasks import RequesterInactive

    admin = client_for(alpha_users["admin"])
    # Eager: the task runs when the block ends, and its refusal reaches the sender.
    with pytest.raises(RequesterInactive), run_jobs():
        imported = upload(admin, HEADER + "rs-1,Renamed by a former admin,,0.01,1,active,garden,\n")
        assert imported.status_code == 202, imported.json()
        with tenant_scope(tenant_a):
            accounts.user_deactivate(actor=alpha_users["owner"], user=alpha_users["admin"])
    with pytest.raises(RequesterInactive), run_jobs():
        exported = client_for(alpha_users["member"]).post(EXPORTS)
        assert exported.status_code == 202
        with tenant_scope(tenant_a):  # a path that bypasses the services, too
            User.objects.filter(pk=alpha_users["member"].pk).update(is_active=False)
    with tenant_scope(tenant_a):
        for accepted in (imported, exported):
            job = Job.objects.get(pk=accepted.json()["id"])
            assert (job.status, job.error["code"]) == ("failed", "user_inactive")
            assert "deactivated" in job.error["message"]
            assert job.started_at is None  # the body never ran
        assert Product.objects.get(sku="RS-1").name == "Rocket Skates"
        assert not default_storage.exists(Job.objects.get(pk=imported.json()["id"]).input_path)
        assert not Job.objects.get(pk=exported.json()["id"]).output_path
        # The import lock is free: the owner's own import runs at once.
        owner = client_for(alpha_users["owner"])
        with run_jobs():
            again = upload(owner, HEADER + "rs-1,Renamed by the owner,,150.00,1,active,garden,\n")
        assert Job.objects.get(pk=again.json()["id"]).status == "succeeded"
        assert Product.objects.get(sku__iexact="RS-1").name == "Renamed by the owner"
