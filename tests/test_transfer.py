"""Whole-tenant export and import (issue 14): ``tenants export`` → ``tenants delete --purge``
→ ``tenants import`` gives back the same tenant, with the source's tokens refused; archives
that are newer, damaged or aimed at a taken slug are refused and leave nothing behind."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import tarfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import User, UserSession
from atrium.platform.apikeys.models import APIKey
from atrium.platform.audit.models import AuditEvent
from atrium.platform.audit.services import audit_record
from atrium.platform.webhooks.models import WebhookEndpoint
from atrium.tenants import archive, provisioning
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.migrator import migrate_schema, schemas_behind
from atrium.tenants.models import Domain, PlatformAuditEvent, Tenant

from .fixtures import OWNER_PASSWORD, FileStore, run_cli, schema_exists

SLUG = "voyage"
HOST = f"{SLUG}.localhost"
OWNER = f"owner@{SLUG}.test"
PASSWORDS = {
    OWNER: OWNER_PASSWORD,
    f"ada@{SLUG}.test": "Ada-Lovelace-Engine-1843",
    f"bob@{SLUG}.test": "Bob-Builder-Can-Do-2024",
}
LISTINGS = (
    "/api/v1/users/",
    "/api/v1/users/me/",
    "/api/v1/catalog/categories/",
    "/api/v1/catalog/products/",
)


# ----------------------------------------------------------------------------- helpers


def create(slug: str = SLUG) -> Tenant:
    return provisioning.tenant_create(
        slug=slug,
        name="Voyage SARL",
        owner_email=f"owner@{slug}.test",
        owner_password=OWNER_PASSWORD,
    ).tenant


def login(email: str, host: str = HOST):
    return APIClient(HTTP_HOST=host).post(
        "/api/v1/auth/token/", {"email": email, "password": PASSWORDS[email]}
    )


def client_of(access: str, host: str = HOST) -> APIClient:
    client = APIClient(HTTP_HOST=host)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def seed(tenant: Tenant) -> None:
    """Users of each role, categories, products (one deleted), reviews and a stored file."""
    with tenant_scope(tenant):
        owner = User.objects.get()
        ada = User.objects.create_with_role(
            f"ada@{SLUG}.test", role="admin", password=PASSWORDS[f"ada@{SLUG}.test"], name="Ada"
        ).user
        bob = User.objects.create_with_role(
            f"bob@{SLUG}.test", role="member", password=PASSWORDS[f"bob@{SLUG}.test"], name="Bob"
        ).user
        lamps = catalog.category_create(name="Lamps", description="Light")
        shades = catalog.category_create(name="Shades", parent=lamps)
        products = [
            catalog.product_create(
                owner=owner if i % 2 else ada,
                name=f"Lamp {i}",
                sku=f"L-{i}",
                price=Decimal(f"{i}9.50"),
                category=shades if i % 3 else lamps,
                stock=i,
                tags=["brass", f"t{i}"],
                description="ünïcödé\ttab and 'quotes' \\ backslash",
            )
            for i in range(1, 6)
        ]
        catalog.product_delete(product=products[4])
        catalog.review_create(author=ada, product=products[0], rating=5, title="Bright")
        catalog.review_create(author=bob, product=products[0], rating=3, title="Fine", body="ok")
        catalog.review_create(author=bob, product=products[1], rating=4, title="Nice")
        default_storage.save(
            f"{tenant.schema_name}/uploads/manual.bin", ContentFile(os.urandom(64 * 1024))
        )
        with transaction.atomic():
            audit_record("product.created", target=products[0], actor=owner)
            audit_record(
                "user.role_changed", target=bob, actor=ada, changes={"role": ["admin", "member"]}
            )
            audit_record("product.deleted", target=products[4], actor=owner)


def audit_entries(tenant: Tenant) -> list[dict]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.order_by("at", "id").values())


def listings(client: APIClient, *more: str) -> dict:
    """Every listing's body, ``last_login`` aside (logging in to compare changes it)."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "last_login"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    def get(url: str):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content)
        return strip(response.json())

    bodies = {url: get(url) for url in (*LISTINGS, *more)}
    for product in bodies["/api/v1/catalog/products/"]["results"]:
        url = f"/api/v1/catalog/products/{product['id']}/reviews/"
        bodies[url] = get(url)
    return bodies


def staging_schemas() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
            [archive.STAGING_PREFIX + "%"],
        )
        return [row[0] for row in cursor.fetchall()]


def assert_nothing_of(slug: str, files: FileStore, before_files: list[str]) -> None:
    with public_scope():
        assert not Tenant.objects.filter(slug=slug).exists()
        assert not Domain.objects.filter(domain__startswith=f"{slug}.").exists()
    assert not schema_exists(slug.replace("-", "_"))
    assert staging_schemas() == []
    assert files.files() == before_files


def repack(source: Path, target: Path, change) -> None:
    """Copy an archive member by member; ``change(name, data)`` returns the new bytes."""
    with tarfile.open(source, "r:*") as src, tarfile.open(target, "w:gz") as out:
        for member in src:
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


@pytest.fixture
def exported(live_db, file_storage, tmp_path) -> tuple[Path, FileStore]:
    """An archive of a seeded tenant (which stays live), written by the CLI."""
    live_db.append(SLUG)
    seed(create())
    path = tmp_path / "voyage.tar.gz"
    result = run_cli("tenants", "export", SLUG, "--output", str(path), env=file_storage.env)
    assert result.returncode == 0, result.stderr
    return path, file_storage


# ----------------------------------------------------------------------------- round trip


def test_export_purge_import_gives_back_the_same_tenant(live_db, file_storage, tmp_path, settings):
    """On each file storage: the local filesystem, and a bucket of an S3-compatible server."""
    live_db.append(SLUG)
    old = create()
    seed(old)
    pairs = {email: login(email).json() for email in PASSWORDS}
    owner = client_of(pairs[OWNER]["access"])
    made = owner.post("/api/v1/api-keys/", {"name": "sync", "scopes": ["read"]}, format="json")
    assert made.status_code == 201, made.content
    by_key = APIClient(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Api-Key {made.json()['key']}")
    assert by_key.get("/api/v1/catalog/products/").status_code == 200
    settings.ATRIUM_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1"
    hook = owner.post(
        "/api/v1/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "events": ["product.created"]},
        format="json",
    )
    assert hook.status_code == 201, hook.content
    source_secret = hook.json()["secret"]
    accepted = owner.post("/api/v1/catalog/exports/")
    assert accepted.status_code == 202, accepted.json()
    job = owner.get(f"/api/v1/jobs/{accepted.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    csv = b"".join(owner.get(job["download_url"]).streaming_content)
    job_url = f"/api/v1/jobs/{job['id']}/"
    before = listings(owner, job_url)
    assert len(before["/api/v1/catalog/products/"]["results"]) == 4  # one is deleted
    stored = file_storage.files()
    assert sorted(stored) == sorted(
        [f"{old.schema_name}/exports/{job['id']}.csv", f"{old.schema_name}/uploads/manual.bin"]
    )
    with default_storage.open(f"{old.schema_name}/uploads/manual.bin") as handle:
        manual = handle.read()

    audit_before = audit_entries(old)
    assert len(audit_before) >= 3

    path = tmp_path / "voyage.tar.gz"
    exported = run_cli(
        "tenants", "export", SLUG, "--output", str(path), "--json", env=file_storage.env
    )
    assert exported.returncode == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert (summary["files"], summary["schema_name"]) == (2, old.schema_name)
    purged = run_cli("tenants", "delete", SLUG, "--purge", "--yes", env=file_storage.env)
    assert purged.returncode == 0, purged.stderr
    assert file_storage.files() == [] and not schema_exists(old.schema_name)

    imported = run_cli(
        "tenants", "import", str(path), "--slug", SLUG, "--json", env=file_storage.env
    )
    assert imported.returncode == 0, imported.stderr
    data = json.loads(imported.stdout)
    with public_scope():
        new = Tenant.objects.get(slug=SLUG)
    assert (data["schema_name"], data["source_schema"]) == (new.schema_name, old.schema_name)
    # A new identity: id (so JWT signing key), schema, key space, storage folder.
    assert new.id != old.id and new.schema_name != old.schema_name
    assert (new.name, new.plan, new.status) == (old.name, old.plan, "active")
    # The audit log came along as it was (before anyone logs in again).
    assert audit_entries(new) == audit_before
    with public_scope():
        events = PlatformAuditEvent.objects.filter(tenant_slug=SLUG)
        records = {
            "tenant.exported": events.get(action="tenant.exported", tenant_id=old.id),
            "tenant.purged": events.get(action="tenant.purged", details__tenant_id=str(old.id)),
            "tenant.imported": events.get(action="tenant.imported", tenant_id=new.id),
        }
    assert records["tenant.exported"].tenant_id == old.id
    assert records["tenant.exported"].details["files"] == 2
    assert records["tenant.purged"].details["tenant_id"] == str(old.id)
    assert records["tenant.imported"].tenant_id == new.id
    assert records["tenant.imported"].details["source_schema"] == old.schema_name
    assert all(e.source == "cli" and e.os_user for e in records.values()), records
    # No session or JWT record of the source came along.
    with tenant_scope(new), connection.cursor() as cursor:
        for table in (
            "django_session",
            "token_blacklist_outstandingtoken",
            "token_blacklist_blacklistedtoken",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            assert cursor.fetchone()[0] == 0, table

    # The source's API keys and sign-ins came along revoked, and the key is refused.
    with tenant_scope(new):
        assert APIKey.objects.count() == 1 and not APIKey.objects.filter(revoked=False).exists()
        assert not UserSession.objects.filter(revoked_at__isnull=True).exists()
    assert by_key.get("/api/v1/catalog/products/").status_code == 401
    # The webhook came along disabled, with a new secret nobody knows (rotate to get one).
    with tenant_scope(new):
        restored = WebhookEndpoint.objects.get()
    assert (restored.url, restored.enabled) == ("http://127.0.0.1:9/hook", False)
    assert restored.secret.startswith("whsec_") and restored.secret != source_secret
    assert len(base64.b64decode(restored.secret.removeprefix("whsec_"))) == 32
    # The source's tokens are refused: signed with the old tenant's key.
    stale = client_of(pairs[OWNER]["access"]).get("/api/v1/users/me/")
    assert stale.status_code == 401, stale.content
    refresh = APIClient(HTTP_HOST=HOST).post(
        "/api/v1/auth/token/refresh/", {"refresh": pairs[OWNER]["refresh"]}
    )
    assert refresh.status_code == 401, refresh.content
    # Every user logs in with their password.
    fresh = {}
    for email in PASSWORDS:
        response = login(email)
        assert response.status_code == 200, (email, response.content)
        fresh[email] = response.json()
    owner = client_of(fresh[OWNER]["access"])
    assert listings(owner, job_url) == before
    assert b"".join(owner.get(job["download_url"]).streaming_content) == csv
    assert sorted(file_storage.files()) == sorted(
        [f"{new.schema_name}/exports/{job['id']}.csv", f"{new.schema_name}/uploads/manual.bin"]
    )
    with default_storage.open(f"{new.schema_name}/uploads/manual.bin") as handle:
        assert handle.read() == manual
    assert staging_schemas() == []


# ----------------------------------------------------------------------------- refusals


def test_import_refuses_a_taken_slug(exported):
    path, files = exported
    before = files.files()
    result = run_cli("tenants", "import", str(path), "--slug", SLUG, env=files.env)
    assert result.returncode != 0
    assert "The slug 'voyage' is taken" in result.stderr, result.stderr
    assert files.files() == before and staging_schemas() == []


def test_import_refuses_an_archive_of_a_newer_atrium(exported, tmp_path):
    path, files = exported
    newer = tmp_path / "newer.tar.gz"

    def from_the_future(name: str, data: bytes) -> bytes:
        if name != archive.MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["migrations"].append(["catalog", "9999_from_the_future"])
        return json.dumps(manifest).encode()

    repack(path, newer, from_the_future)
    before = files.files()
    result = run_cli("tenants", "import", str(newer), "--slug", "later", env=files.env)
    assert result.returncode == 1
    assert "exported by a newer Atrium" in result.stderr, result.stderr
    assert "catalog.9999_from_the_future" in result.stderr
    assert_nothing_of("later", files, before)


@pytest.mark.parametrize("member", [archive.DUMP, "files/uploads/manual.bin"])
def test_import_refuses_a_damaged_archive(exported, tmp_path, member):
    path, files = exported
    damaged = tmp_path / "damaged.tar.gz"

    def flip_a_byte(name: str, data: bytes) -> bytes:
        if name != member:
            return data
        return data[:100] + bytes([data[100] ^ 1]) + data[101:]

    repack(path, damaged, flip_a_byte)
    before = files.files()
    result = run_cli("tenants", "import", str(damaged), "--slug", "broken", env=files.env)
    assert result.returncode == 1
    assert f"{member} fails its checksum" in result.stderr, result.stderr
    assert_nothing_of("broken", files, before)


def test_import_refuses_what_is_not_an_archive(live_db, tmp_path):
    path = tmp_path / "notes.tar.gz"
    path.write_bytes(b"certainly not a tar file")
    result = run_cli("tenants", "import", str(path), "--slug", "notes")
    assert result.returncode == 1
    assert "is not a readable tenant archive" in result.stderr, result.stderr


def test_a_failure_after_the_restore_leaves_nothing_behind(exported, settings):
    """The schema is loaded and the files copied when the last step fails: both go."""
    path, files = exported
    before = files.files()
    settings.ATRIUM_TENANT_IMPORT_RESETS = {"sessions": ("SELECT 1 / 0",)}
    with pytest.raises(Exception, match="division by zero"):
        archive.tenant_import(path=path, slug="halfway")
    assert_nothing_of("halfway", files, before)


def test_an_older_archive_is_migrated_forward(live_db, tmp_path, settings, file_storage):
    """An archive of a schema from before the catalog app existed: the import runs the
    catalog's migrations and the restored tenant serves its catalog."""
    live_db.extend(["elder", "elder-new"])
    tenant = create("elder")
    migrate_schema(tenant.schema_name, ("catalog", "zero"))
    assert schemas_behind([tenant.schema_name]) == [tenant.schema_name]
    path = tmp_path / "elder.tar"
    exported = archive.tenant_export(slug="elder", output=path)
    assert not any(app == "catalog" for app, _ in exported.manifest["migrations"])
    with tarfile.open(path, "r:") as plain:  # not compressed: the name asks for a plain tar
        assert plain.getnames()[-1] == archive.MANIFEST

    result = archive.tenant_import(path=path, slug="elder-new")
    assert result.migrated >= 1
    assert schemas_behind([result.tenant.schema_name]) == []
    PASSWORDS["owner@elder.test"] = OWNER_PASSWORD
    pair = login("owner@elder.test", host="elder-new.localhost").json()
    products = client_of(pair["access"], host="elder-new.localhost").get(
        "/api/v1/catalog/products/"
    )
    assert products.status_code == 200 and products.json()["results"] == []


def test_import_under_a_custom_domain(exported):
    path, _ = exported
    result = archive.tenant_import(path=path, slug="voyage-copy", domain="shop.voyage.example")
    try:
        with public_scope():
            domains = list(
                Domain.objects.filter(tenant=result.tenant).values_list("domain", "is_primary")
            )
        assert sorted(domains) == [("shop.voyage.example", True), ("voyage-copy.localhost", False)]
        assert result.url.startswith("http://shop.voyage.example")
        # The source still serves, untouched, next to its copy.
        assert login(OWNER).status_code == 200
        assert login(OWNER, host="shop.voyage.example").status_code == 200
    finally:
        from atrium.tenants import services

        services.tenant_purge(slug="voyage-copy")


# ----------------------------------------------------------------------------- while serving


def _own_connection():
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], autocommit=False
    )


def test_export_runs_beside_an_open_write(live_db, tmp_path, file_storage):
    """A write transaction open during the export (ROW EXCLUSIVE on the products, a row
    locked) neither blocks it nor leaks into it."""
    live_db.extend([SLUG, "snapshot"])
    tenant = create()
    seed(tenant)
    with _own_connection() as writer:
        writer.execute(
            f"UPDATE {tenant.schema_name}.catalog_product SET name = 'uncommitted' "
            "WHERE sku = 'L-1'"
        )
        result = archive.tenant_export(slug=SLUG, output=tmp_path / "live.tar")
        writer.rollback()
    restored = archive.tenant_import(path=result.path, slug="snapshot").tenant
    with tenant_scope(restored):
        from atrium.apps.catalog.models import Product

        assert Product.objects.get(sku="L-1").name == "Lamp 1"


def test_export_gives_up_on_a_table_a_migration_holds(live_db, tmp_path, settings):
    """ACCESS EXCLUSIVE (a migration's ALTER TABLE) is the one lock pg_dump waits for: it
    stops after ATRIUM_EXPORT_LOCK_WAIT_SECONDS instead of queueing the tenant's traffic."""
    live_db.append(SLUG)
    tenant = create()
    settings.ATRIUM_EXPORT_LOCK_WAIT_SECONDS = 1
    output = tmp_path / "locked.tar"
    with _own_connection() as migration:
        migration.execute(
            f"LOCK TABLE {tenant.schema_name}.catalog_product IN ACCESS EXCLUSIVE MODE"
        )
        with pytest.raises(archive.errors.TransferFailed, match="pg_dump failed"):
            archive.tenant_export(slug=SLUG, output=output)
        migration.rollback()
    assert list(tmp_path.iterdir()) == []  # no archive, no partial file


def test_mailed_links_of_the_source_are_refused_on_the_restored_tenant(live_db, tmp_path):
    """A password-reset token and an invitation token issued by the source work there, and
    not on its restore under the same slug (same host): the import resets revoke them."""
    from atrium.platform.accounts.account_tokens import account_token_issue
    from atrium.platform.accounts.models import AccountTokenPurpose
    from atrium.platform.invitations.models import Invitation, token_digest, token_new
    from atrium.tenants import services

    live_db.append(SLUG)
    tenant = create()
    invitation_token = token_new()
    with tenant_scope(tenant):
        owner = User.objects.get()
        reset_token = account_token_issue(
            user=owner, purpose=AccountTokenPurpose.PASSWORD_RESET, ttl=3600
        )
        Invitation.objects.create(
            email=f"new@{SLUG}.test",
            token_hash=token_digest(invitation_token),
            invited_by=owner,
            expires_at=owner.date_joined + dt.timedelta(days=3650),
        )
    path = archive.tenant_export(slug=SLUG, output=tmp_path / "links.tar").path
    services.tenant_purge(slug=SLUG)
    archive.tenant_import(path=path, slug=SLUG)

    api = APIClient(HTTP_HOST=HOST)
    reset = api.post(
        "/api/v1/auth/password/reset/confirm/",
        {"token": reset_token, "new_password": "Another-Fine-Password-7"},
    )
    assert reset.status_code == 400, reset.content
    assert reset.json()["errors"][0]["code"] == "invalid_token", reset.json()
    accept = api.post(
        "/api/v1/auth/invitations/accept/",
        {"token": invitation_token, "password": "Another-Fine-Password-7", "name": "New"},
    )
    assert accept.status_code == 400, accept.content
    assert accept.json()["errors"][0]["code"] == "invitation_revoked"
    assert login(OWNER).status_code == 200  # the password itself is kept
