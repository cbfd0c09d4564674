"""Tenant life cycle: an archived tenant says so (issue 11)."""

from __future__ import annotations

from django.test import Client

from atrium.tenants import provisioning, services

from .conftest import OWNER_PASSWORD

SLUG = "ghosty"
HOST = f"{SLUG}.localhost"


def create_tenant() -> None:
    provisioning.tenant_create(
        slug=SLUG, name="Ghosty", owner_email=f"owner@{SLUG}.test", owner_password=OWNER_PASSWORD
    )


def test_archived_tenant_answers_its_own_code(live_db):
    live_db.append(SLUG)
    create_tenant()
    client = Client(HTTP_HOST=HOST)
    try:
        services.tenant_suspend(slug=SLUG)
        suspended = client.get("/api/v1/users/me/")
        assert (suspended.status_code, suspended.json()["errors"][0]["code"]) == (
            403,
            "tenant_suspended",
        )
        services.tenant_archive(slug=SLUG)
        archived = client.get("/api/v1/users/me/")
        assert archived.status_code == 403
        error = archived.json()["errors"][0]
        assert error["code"] == "tenant_archived"
        assert error["detail"] == "This tenant is archived: it no longer serves requests."
    finally:
        services.tenant_activate(slug=SLUG)
    assert client.get("/healthz").status_code == 200
