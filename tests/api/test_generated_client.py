"""A client generated from the live schema (openapi-python-client, strict enums, unknown
statuses raise) drives the main flows of a real server: the schema must describe every
answer the server really sends, error answers and their codes included.

The client is generated from ``/api/schema/`` of a running uvicorn, imported, and used as
an integrator would: sign in, CRUD of categories and products, paging, an export job and
its download, and the errors: validation (400), a conflict (409), sign-in throttled
(429), an unknown host (404) and a suspended tenant (403), each parsed into its typed
error with its code as an enum member.
"""

from __future__ import annotations

import csv
import importlib
import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from atrium.tenants import provisioning, services
from atrium.tenants.context import public_scope
from tests.driver import Server, wait_for
from tests.fixtures import OWNER_PASSWORD, REPO_ROOT

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
def shop(django_db_setup, django_db_blocker) -> Iterator[SimpleNamespace]:
    """A tenant of this module's own (it is suspended at the end), purged after."""
    slug = f"gen-{uuid.uuid4().hex[:6]}"
    with django_db_blocker.unblock():
        provisioning.tenant_create(
            slug=slug,
            name="Generated",
            owner_email=f"owner@{slug}.test",
            owner_password=OWNER_PASSWORD,
        )
        try:
            yield SimpleNamespace(slug=slug, host=f"{slug}.localhost", email=f"owner@{slug}.test")
        finally:
            with public_scope():
                services.tenant_purge(slug=slug)


@pytest.fixture(scope="module")
def server(shop) -> Iterator[Server]:
    with Server(log_level="warning") as live:
        yield live


@pytest.fixture(scope="module")
def generated(server, shop, tmp_path_factory):
    """The package openapi-python-client generates from the server's live schema."""
    workdir = tmp_path_factory.mktemp("generated-client")
    schema = server.get(shop.host, "/api/schema/?format=json")
    assert schema.status_code == 200, schema.text[:300]
    (workdir / "schema.json").write_text(schema.text)
    (workdir / "config.yaml").write_text("post_hooks: []\n")
    package = "atrium_generated_client"
    done = subprocess.run(
        [
            *(str(GENERATOR), "generate", "--path", str(workdir / "schema.json")),
            *("--output-path", str(workdir / package), "--meta", "none"),
            *("--config", str(workdir / "config.yaml")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield SimpleNamespace(
            package=importlib.import_module(package),
            api=lambda name: importlib.import_module(f"{package}.api.{name}"),
            models=importlib.import_module(f"{package}.models"),
        )
    finally:
        sys.path.remove(str(workdir))
        for name in [name for name in sys.modules if name.startswith(package)]:
            del sys.modules[name]


def client_for(generated, server, host: str, token: str | None = None):
    options = {
        "base_url": f"http://127.0.0.1:{server.port}",
        "headers": {"Host": f"{host}:{server.port}"},
        # A status the schema does not document raises instead of parsing to None.
        "raise_on_unexpected_status": True,
        "timeout": 30,
    }
    if token is None:
        return generated.package.Client(**options)
    return generated.package.AuthenticatedClient(token=token, **options)


def sign_in(generated, client, email: str, password: str):
    login = generated.api("auth.api_v1_auth_token_create")
    return login.sync_detailed(
        client=client, body=generated.models.TokenObtainRequest(email=email, password=password)
    )


def only_error(parsed, response_class, enum_class):
    assert isinstance(parsed, response_class), parsed
    (error,) = parsed.errors
    assert isinstance(error.code, enum_class), error.code
    return error


def test_a_generated_client_drives_the_api_and_parses_every_answer(
    generated, server, shop, django_db_blocker
):
    models, api = generated.models, generated.api
    anonymous = client_for(generated, server, shop.host)

    # Sign in.
    answer = sign_in(generated, anonymous, shop.email, OWNER_PASSWORD)
    assert answer.status_code == 200 and isinstance(answer.parsed, models.TokenObtain)
    client = client_for(generated, server, shop.host, answer.parsed.access)
    me = api("users.api_v1_users_me_retrieve").sync(client=client)
    assert me.email == shop.email

    # Categories and products: create, read, update, page, delete.
    tools = api("catalog.api_v1_catalog_categories_create").sync(
        client=client, body=models.CategoryWriteRequest(name="Tools")
    )
    assert isinstance(tools, models.Category)
    renamed = api("catalog.api_v1_catalog_categories_partial_update").sync(
        client=client, id=str(tools.id), body=models.PatchedCategoryWriteRequest(name="Hand tools")
    )
    assert renamed.name == "Hand tools"
    spare = api("catalog.api_v1_catalog_categories_create").sync(
        client=client, body=models.CategoryWriteRequest(name="Spare")
    )
    fetched_category = api("catalog.api_v1_catalog_categories_retrieve").sync(
        client=client, id=str(spare.id)
    )
    assert fetched_category.name == "Spare"
    removed = api("catalog.api_v1_catalog_categories_destroy").sync_detailed(
        client=client, id=str(spare.id)
    )
    assert removed.status_code == 204
    categories = api("catalog.api_v1_catalog_categories_list").sync(client=client)
    assert [category.name for category in categories.results] == ["Hand tools"]
    create_product = api("catalog.api_v1_catalog_products_create")
    for n in range(5):
        made = create_product.sync(
            client=client,
            body=models.ProductWriteRequest(
                name=f"Hammer {n}", sku=f"HAM-{n}", price=f"{10 + n}.00", category=tools.id
            ),
        )
        assert isinstance(made, models.Product), made
    listing = api("catalog.api_v1_catalog_products_list")
    first = listing.sync(client=client, page_size=2, ordering="price")
    assert isinstance(first, models.PaginatedProductList)
    assert first.count == 5 and [p.name for p in first.results] == ["Hammer 0", "Hammer 1"]
    assert first.next_ and "page=2" in first.next_
    last = listing.sync(client=client, page_size=2, page=3, ordering="price")
    assert [p.name for p in last.results] == ["Hammer 4"] and last.next_ is None
    hammer = first.results[0]
    updated = api("catalog.api_v1_catalog_products_partial_update").sync(
        client=client, id=str(hammer.id), body=models.PatchedProductWriteRequest(price="9.50")
    )
    assert updated.price == "9.50"
    fetched = api("catalog.api_v1_catalog_products_retrieve").sync(client=client, id=str(hammer.id))
    assert fetched.name == "Hammer 0"
    deleted = api("catalog.api_v1_catalog_products_destroy").sync_detailed(
        client=client, id=str(hammer.id)
    )
    assert deleted.status_code == 204

    # Validation (400) and a conflict (409), parsed with their codes.
    invalid = create_product.sync_detailed(
        client=client,
        body=models.ProductWriteRequest(name="", sku="X-1", price="-1", category=tools.id),
    )
    assert invalid.status_code == 400
    assert isinstance(invalid.parsed, models.BadRequestResponse)
    assert {error.attr for error in invalid.parsed.errors} >= {"name"}
    in_use = api("catalog.api_v1_catalog_categories_destroy").sync_detailed(
        client=client, id=str(tools.id)
    )
    assert in_use.status_code == 409
    error = only_error(in_use.parsed, models.Error409Response, models.Error409CodeEnum)
    assert error.code == models.Error409CodeEnum.CATEGORY_IN_USE

    # A job: export, follow it, download its file (bytes, parsed as a File).
    job = api("catalog.api_v1_catalog_exports_create").sync(client=client)
    assert isinstance(job, models.Job), job
    follow = api("jobs.api_v1_jobs_retrieve")
    finished = wait_for(
        lambda: (
            current
            if (current := follow.sync(client=client, id=str(job.id))).status.value
            in ("succeeded", "failed")
            else None
        ),
        "the export to finish",
        server,
    )
    assert finished.status == models.JobStatusEnum.SUCCEEDED, finished
    download = api("jobs.api_v1_jobs_download_retrieve").sync(client=client, id=str(job.id))
    rows = list(csv.DictReader(io.StringIO(download.payload.read().decode("utf-8-sig"))))
    assert sorted(row["name"] for row in rows) == [f"Hammer {n}" for n in range(1, 5)]

    # An unknown host: 404 tenant_not_found.
    nowhere = client_for(generated, server, f"nope-{uuid.uuid4().hex[:6]}.localhost")
    missing = sign_in(generated, nowhere, shop.email, OWNER_PASSWORD)
    assert missing.status_code == 404
    error = only_error(missing.parsed, models.Error404Response, models.Error404CodeEnum)
    assert error.code == models.Error404CodeEnum.TENANT_NOT_FOUND

    # Sign-in throttled per e-mail: 401 invalid_credentials, then 429 throttled.
    statuses = []
    for _ in range(20):
        refused = sign_in(generated, anonymous, f"guess@{shop.slug}.test", "wrong password")
        statuses.append(refused.status_code)
        if refused.status_code == 429:
            break
        error = only_error(refused.parsed, models.Error401Response, models.Error401CodeEnum)
        assert error.code == models.Error401CodeEnum.INVALID_CREDENTIALS
    assert statuses[-1] == 429, statuses
    error = only_error(refused.parsed, models.Error429Response, models.Error429CodeEnum)
    assert error.code == models.Error429CodeEnum.THROTTLED

    # A suspended tenant: 403 tenant_suspended, on every operation.
    with django_db_blocker.unblock():
        services.tenant_suspend(slug=shop.slug, reason="generated-client test")
    suspended = api("users.api_v1_users_me_retrieve").sync_detailed(client=client)
    assert suspended.status_code == 403
    error = only_error(suspended.parsed, models.Error403Response, models.Error403CodeEnum)
    assert error.code == models.Error403CodeEnum.TENANT_SUSPENDED
    listed = listing.sync_detailed(client=client)
    assert listed.status_code == 403
    assert isinstance(listed.parsed, models.Error403Response)
