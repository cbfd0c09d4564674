"""Beta's object ids used on alpha: every detail, update, delete, restore, nested route, job
and download answers 404 in the one error shape, and not a row of either tenant changes.

The attacker is alpha's owner (the most powerful role there), on alpha's own host with a
valid token: the only thing wrong is whose object the id names.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.db.models import Model

from atrium.apps.catalog.models import Product
from atrium.platform.jobs import services as jobs
from atrium.tenants.context import tenant_scope

from .conftest import World, assert_error, assert_not_found, tenant_rows
from .test_tokens import concrete, is_public, schema_operations, tenant_schema


def _attacks(b: World) -> list[tuple[str, str, dict | None]]:
    """(method, path, body) of every route that takes an id, with beta's ids."""
    product, deleted, review = b.product.pk, b.deleted_product.pk, b.review.pk
    category, user, job = b.category.pk, b.member.pk, b.job.pk
    return [
        ("GET", f"/api/v1/catalog/products/{product}/", None),
        ("GET", f"/api/v1/catalog/products/{b.product.slug}/", None),
        ("PATCH", f"/api/v1/catalog/products/{product}/", {"price": "0.01"}),
        ("PATCH", f"/api/v1/catalog/products/{b.product.slug}/", {"name": "Pwned"}),
        ("DELETE", f"/api/v1/catalog/products/{product}/", None),
        ("DELETE", f"/api/v1/catalog/products/{b.product.slug}/", None),
        ("POST", f"/api/v1/catalog/products/{deleted}/restore/", None),
        ("POST", f"/api/v1/catalog/products/{b.deleted_product.slug}/restore/", None),
        ("POST", f"/api/v1/catalog/products/{product}/restore/", None),
        ("GET", f"/api/v1/catalog/products/{product}/reviews/", None),
        ("GET", f"/api/v1/catalog/products/{b.product.slug}/reviews/", None),
        ("POST", f"/api/v1/catalog/products/{product}/reviews/", {"rating": 1, "title": "x"}),
        ("POST", f"/api/v1/catalog/products/{deleted}/reviews/", {"rating": 1, "title": "x"}),
        ("GET", f"/api/v1/catalog/reviews/{review}/", None),
        ("PATCH", f"/api/v1/catalog/reviews/{review}/", {"rating": 1}),
        ("DELETE", f"/api/v1/catalog/reviews/{review}/", None),
        ("GET", f"/api/v1/catalog/categories/{category}/", None),
        ("GET", f"/api/v1/catalog/categories/{b.category.slug}/", None),
        ("PATCH", f"/api/v1/catalog/categories/{category}/", {"name": "Pwned"}),
        ("DELETE", f"/api/v1/catalog/categories/{category}/", None),
        ("GET", f"/api/v1/users/{user}/", None),
        ("PATCH", f"/api/v1/users/{user}/", {"role": "admin"}),
        ("DELETE", f"/api/v1/users/{user}/", None),
        ("GET", f"/api/v1/users/{b.owner.pk}/", None),
        ("DELETE", f"/api/v1/users/{b.owner.pk}/", None),
        ("GET", f"/api/v1/jobs/{job}/", None),
        ("GET", f"/api/v1/jobs/{job}/download/", None),
        ("GET", f"/api/v1/jobs/{b.running_job.pk}/", None),
        ("GET", f"/api/v1/jobs/{b.running_job.pk}/download/", None),
    ]


@pytest.mark.django_db
def test_beta_ids_on_alpha_are_not_found_and_change_nothing(alpha, beta, roomy_limits):
    alpha_before, beta_before = tenant_rows(alpha.tenant), tenant_rows(beta.tenant)
    client = alpha.client()
    attacks = _attacks(beta)
    for method, path, body in attacks:
        response = client.generic(
            method, path, "" if body is None else _json(body), content_type="application/json"
        )
        assert response.status_code == 404, (method, path, response.status_code)
        assert_not_found(response)
        assert str(beta.tenant.name) not in response.content.decode()
    assert tenant_rows(beta.tenant) == beta_before
    assert tenant_rows(alpha.tenant) == alpha_before
    # Control: the same routes with alpha's own ids do reach alpha's objects.
    for method, path, _ in attacks:
        if method == "GET" and "/download/" not in path:
            own = _swap_ids(path, beta, alpha)
            assert client.get(own).status_code == 200, own


def id_routes() -> list[tuple[str, str]]:
    """(method, path) of every documented operation of a route that takes an id, from the
    tenant OpenAPI schema (the matrix of test_tokens.py), so a new route is in the day it
    is added; its ids come from REAL_IDS or its app's tests/isolation.py."""
    operations = schema_operations(tenant_schema())
    return sorted(key for key, op in operations.items() if "{" in key[1] and not is_public(op))


def refuse_foreign_ids(alpha: World, beta: World, routes: list[tuple[str, str]]) -> None:
    """Each route with beta's real object, as alpha's owner on alpha's host: 404 in the one
    shape, and not a row of either tenant changes; with alpha's own object, every GET of
    them finds it (the 404 is about whose object it is). A route that validates its body
    before it looks the id up may answer the empty body's 400 instead, but only the very
    answer an id that exists nowhere gets: the id was not even looked at."""
    alpha_before, beta_before = tenant_rows(alpha.tenant), tenant_rows(beta.tenant)
    client = alpha.client()
    for method, path in routes:
        response = client.generic(
            method, concrete(path, beta), "{}", content_type="application/json"
        )
        if response.status_code == 400:
            nowhere = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            made_up = client.generic(method, nowhere, "{}", content_type="application/json")
            assert (made_up.status_code, made_up.json()) == (400, response.json()), path
            continue
        assert response.status_code == 404, (method, path, response.status_code)
        assert_not_found(response)
    assert tenant_rows(beta.tenant) == beta_before
    assert tenant_rows(alpha.tenant) == alpha_before
    for method, path in routes:
        if method == "GET":
            assert client.get(concrete(path, alpha)).status_code == 200, path


@pytest.mark.django_db
def test_every_route_that_takes_an_id_refuses_beta_s_ids_on_alpha(alpha, beta, roomy_limits):
    routes = id_routes()
    assert {method for method, _ in routes} == {"GET", "POST", "PATCH", "DELETE"}
    refuse_foreign_ids(alpha, beta, routes)


def _json(body: dict) -> str:
    import json

    return json.dumps(body)


def _swap_ids(path: str, frm: World, to: World) -> str:
    pairs: list[tuple[Model, Model]] = [
        (frm.product, to.product),
        (frm.deleted_product, to.deleted_product),
        (frm.review, to.review),
        (frm.category, to.category),
        (frm.member, to.member),
        (frm.owner, to.owner),
        (frm.job, to.job),
        (frm.running_job, to.running_job),
    ]
    for theirs, ours in pairs:
        path = path.replace(str(theirs.pk), str(ours.pk))
        if hasattr(theirs, "slug"):
            path = path.replace(f"/{theirs.slug}/", f"/{ours.slug}/")
    return path


@pytest.mark.django_db
def test_beta_ids_inside_request_bodies_and_filters_are_refused(alpha, beta):
    alpha_before, beta_before = tenant_rows(alpha.tenant), tenant_rows(beta.tenant)
    client = alpha.client()
    created = client.post(
        "/api/v1/catalog/products/",
        {"name": "Smuggled", "sku": "SM-1", "price": "1.00", "category": str(beta.category.pk)},
        format="json",
    )
    assert created.status_code == 400, created.json()
    assert created.json()["errors"][0]["attr"] == "category"
    moved = client.patch(
        f"/api/v1/catalog/products/{alpha.product.pk}/",
        {"category": str(beta.category.pk)},
        format="json",
    )
    assert moved.status_code == 400, moved.json()
    assert moved.json()["errors"][0]["attr"] == "category"
    # Filtering by beta's category finds nothing of beta (or is refused outright).
    for value in (beta.category.pk, beta.category.slug):
        listed = client.get(f"/api/v1/catalog/products/?category={value}")
        assert listed.status_code in (200, 400), listed.json()
        if listed.status_code == 200:
            assert listed.json()["results"] == []
    assert tenant_rows(beta.tenant) == beta_before
    assert tenant_rows(alpha.tenant) == alpha_before


@pytest.mark.django_db
def test_lists_of_alpha_show_nothing_of_beta(alpha, beta):
    client = alpha.client()
    beta_ids = {
        str(beta.product.pk),
        str(beta.category.pk),
        str(beta.review.pk),
        str(beta.member.pk),
        str(beta.owner.pk),
        str(beta.job.pk),
    }
    for path in (
        "/api/v1/catalog/products/",
        "/api/v1/catalog/products/top-rated/",
        "/api/v1/catalog/categories/",
        "/api/v1/users/",
        f"/api/v1/catalog/products/{alpha.product.pk}/reviews/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        text = response.content.decode()
        assert not any(beta_id in text for beta_id in beta_ids), path
        assert "beta" not in text.lower(), path


@pytest.mark.parametrize(
    "forged",
    [
        "beta/exports/{beta_job}.csv",  # beta's real file
        "alpha/../beta/exports/{beta_job}.csv",
        "alpha/exports/../../beta/exports/{beta_job}.csv",
        "/{media}/beta/exports/{beta_job}.csv",
        "{media}/beta/exports/{beta_job}.csv",
        "alpha/exports/gone.csv",  # in alpha's folder, but no longer in storage
    ],
)
@pytest.mark.django_db
def test_a_job_pointing_at_beta_s_file_downloads_nothing(alpha, beta, media, forged):
    """Defence in depth: even a job row of alpha whose path names beta's file (which no API
    can write) answers 404 and serves not a byte of it; so does a file that is gone."""
    path = forged.format(beta_job=beta.job.pk, media=str(media).lstrip("/"))
    with tenant_scope(alpha.tenant):
        job = jobs.job_create(kind="catalog.export", created_by=alpha.owner)
        job = jobs.job_finish(job=job, result={"rows": 1}, output_path=path)
    response = alpha.client().get(f"/api/v1/jobs/{job.pk}/download/")
    assert_not_found(response)
    # Control: beta's own download of that file works.
    own = beta.client().get(f"/api/v1/jobs/{beta.job.pk}/download/")
    assert own.status_code == 200
    assert b"W-beta" in b"".join(own.streaming_content)


@pytest.mark.django_db
def test_a_job_of_alpha_shows_its_own_progress_only(alpha, beta):
    """Job progress is read from the requesting tenant's key space: a job id of beta that
    alpha knows leads nowhere, and alpha's own running job reports alpha's progress."""
    with tenant_scope(alpha.tenant):
        jobs.job_progress(job=alpha.running_job, percent=7)
    assert alpha.client().get(f"/api/v1/jobs/{alpha.running_job.pk}/").json()["progress"] == 7
    assert beta.client().get(f"/api/v1/jobs/{beta.running_job.pk}/").json()["progress"] == 42
    with tenant_scope(alpha.tenant):
        # A row of alpha with beta's job id (ids are UUIDs; this only happens by forgery):
        # its progress is alpha's, never the 42 that beta recorded under that id.
        twin = jobs.job_create(kind="catalog.export", created_by=alpha.owner)
        type(twin).objects.filter(pk=twin.pk).update(status="running")
        twin.refresh_from_db()
        twin.pk = beta.running_job.pk
        assert jobs.job_progress_get(twin) == 0


@pytest.mark.django_db
def test_restore_and_reviews_with_alpha_ids_still_work(alpha):
    """Control for the refusals above: the same routes act on alpha's own objects."""
    client = alpha.client()
    restored = client.post(f"/api/v1/catalog/products/{alpha.deleted_product.pk}/restore/")
    assert restored.status_code == 200, restored.json()
    with tenant_scope(alpha.tenant):
        assert Product.objects.filter(pk=alpha.deleted_product.pk).exists()
    review = client.post(
        f"/api/v1/catalog/products/{alpha.product.pk}/reviews/",
        {"rating": 5, "title": "Mine"},
        format="json",
    )
    assert review.status_code == 201, review.json()
    assert_error(
        client.get("/api/v1/catalog/reviews/00000000-0000-0000-0000-000000000000/"),
        404,
        "not_found",
    )


@pytest.mark.django_db
def test_imports_and_exports_stay_in_their_tenant(alpha, beta, django_capture_on_commit_callbacks):
    """An import matches rows by SKU and categories by slug in its own tenant only: beta's SKU
    creates a product of alpha, beta's category slug is an error; an export holds only
    alpha's rows."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    beta_before = tenant_rows(beta.tenant)
    client = alpha.client()
    header = "sku,name,description,price,stock,status,category,tags\n"
    cases = {
        "same-sku": f"W-beta,Taken over,,1.00,1,active,{alpha.category.slug},\n",
        "their-category": f"NEW-1,Smuggled,,1.00,1,active,{beta.category.slug},\n",
    }
    jobs_of = {}
    for name, row in cases.items():
        upload = SimpleUploadedFile("p.csv", (header + row).encode(), "text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            accepted = client.post("/api/v1/catalog/imports/", {"file": upload}, format="multipart")
        assert accepted.status_code == 202, accepted.json()
        jobs_of[name] = client.get(f"/api/v1/jobs/{accepted.json()['id']}/").json()
    assert jobs_of["same-sku"]["status"] == "succeeded", jobs_of["same-sku"]
    assert jobs_of["same-sku"]["result"] == {"created": 1, "updated": 0}
    assert jobs_of["their-category"]["status"] == "failed"
    assert jobs_of["their-category"]["error"]["rows"][0]["field"] == "category"
    with tenant_scope(alpha.tenant):
        assert Product.objects.get(sku="W-beta").name == "Taken over"  # alpha's own now
    with django_capture_on_commit_callbacks(execute=True):
        exported = client.post("/api/v1/catalog/exports/")
    job = client.get(f"/api/v1/jobs/{exported.json()['id']}/").json()
    content = b"".join(client.get(job["download_url"]).streaming_content).decode()
    assert "W-alpha" in content and "Taken over" in content
    assert "Widget beta" not in content and beta.category.slug not in content
    assert tenant_rows(beta.tenant) == beta_before
