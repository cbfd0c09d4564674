"""The person-data export through a real Celery worker and broker: the job queued by the
API is run by the worker in the tenant, and its download is the person's JSON document."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import Role, User
from atrium.platform.jobs.models import Job, JobStatus
from atrium.tenants import provisioning, services
from atrium.tenants.context import tenant_scope
from tests import driver

TIMEOUT = 60


@pytest.mark.parametrize("file_storage", ["filesystem"], indirect=True)
def test_export_job_runs_on_a_real_worker(live_db, file_storage):
    slug = f"gdpr-{uuid.uuid4().hex[:6]}"
    provisioning.tenant_create(slug=slug, name="GDPR Co", owner_email=f"owner@{slug}.test")
    live_db.append(slug)
    tenant = services.tenant_get(slug)
    with tenant_scope(tenant):
        owner = User.objects.get()
        person = User.objects.create_with_role(
            f"kim@{slug}.test", role=Role.MEMBER, name="Kim Lee"
        ).user
        shelf = catalog.category_create(name="Shelf")
        catalog.product_create(
            owner=person, name="Kim's Kettle", sku="KIM-1", price=Decimal("5"), category=shelf
        )
    client = APIClient(HTTP_HOST=f"{slug}.localhost")
    client.force_authenticate(owner)
    worker = driver.Worker(concurrency=1, env=file_storage.env)
    with worker.sending(), worker:
        accepted = client.post(f"/api/v1/users/{person.pk}/data-export/")
        assert accepted.status_code == 202, accepted.content

        def finished():
            with tenant_scope(tenant):
                job = Job.objects.get(pk=accepted.json()["id"])
            return job.is_finished and job

        job = driver.wait_for(finished, "the export job to finish", worker, timeout=TIMEOUT)
    assert job.status == JobStatus.SUCCEEDED, job.error
    download = client.get(f"/api/v1/jobs/{job.pk}/download/")
    document = json.loads(b"".join(download.streaming_content))
    assert document["account"]["email"] == f"kim@{slug}.test"
    assert [p["sku"] for p in document["products"]] == ["KIM-1"]
    assert file_storage.files() == [job.output_path]
