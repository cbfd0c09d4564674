"""Queued work of a tenant that is not active does not run, through a real Celery worker.

Work queued while the tenant was active and taken by a worker after ``tenants suspend``
or ``tenants delete`` (archive) fails with ``TenantInactive`` (code ``tenant_inactive``):
the task's body never runs, its job is marked failed with that code (never left queued),
its upload is dropped, and no idempotency key or lock of it is left behind. A running
worker whose copy of the tenant directory is warm notices a suspension, and a tenant
activated again is served at once. A job whose user was deactivated before a worker took it
fails the same way, with ``user_inactive``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.core.files.storage import default_storage

from atrium.apps.catalog.models import Product
from atrium.apps.catalog.services import category_create
from atrium.apps.catalog.tasks import export_products, import_products
from atrium.platform.accounts.models import User
from atrium.platform.jobs import services as jobs
from atrium.platform.jobs import storage
from atrium.platform.jobs.models import Job, JobStatus
from atrium.platform.tasks import active_tenants, run_for_active_tenants
from atrium.tenants import provisioning, services
from atrium.tenants.celery import TenantInactive
from atrium.tenants.context import tenant_scope
from atrium.tenants.models import Tenant
from tests import driver
from tests.fixtures import FileStore
from tests.tasks.worker_tasks import keys_for, record_context, redis

TIMEOUT = 30


def new_tenant(live_db: list[str], prefix: str) -> Tenant:
    slug = f"{prefix}-{uuid.uuid4().hex[:6]}"
    provisioning.tenant_create(slug=slug, name=f"{prefix} Co", owner_email=f"owner@{slug}.test")
    live_db.append(slug)
    return services.tenant_get(slug)


@pytest.fixture
def files(file_storage) -> FileStore:
    """The jobs' files on each storage (a folder, then a bucket of an S3-compatible server,
    of the test's own); the worker, another process, gets the same variables."""
    return file_storage


def submit_jobs(tenant: Tenant) -> tuple[Job, Job]:
    """An export and an import of one product, queued in ``tenant`` (committed at once)."""
    with tenant_scope(tenant):
        owner = User.objects.get()
        category = category_create(name="Tools")
        export = jobs.job_submit(kind="catalog.export", created_by=owner, task=export_products)
        upload = storage.save(
            f"imports/{uuid.uuid4().hex}.csv",
            f"sku,name,price,category\nNEW-1,Hammer,9.90,{category.slug}\n".encode(),
        )
        imported = jobs.job_submit(
            kind="catalog.import", created_by=owner, task=import_products, input_path=upload
        )
    return export, imported


def job_of(tenant: Tenant, job: Job) -> Job:
    with tenant_scope(tenant):
        return Job.objects.get(pk=job.pk)


def tenant_keys(tenant: Tenant, purpose: str) -> list[bytes]:
    return list(redis().scan_iter(match=f"t:{tenant.schema_name}:{purpose}:*", count=1000))


def assert_refused_jobs_left_nothing(
    tenant: Tenant, queued: tuple[Job, Job], worker: driver.Worker
) -> None:
    """The export and import queued by ``submit_jobs`` were refused: no file written, the
    upload dropped, no product, no idempotency claim or lock held, and the refusal logged."""
    export, imported = queued
    # The worker logs a refusal after the job's failure has committed: wait for the lines
    # (a job seen failed may be a few milliseconds ahead of its log line).
    names = ("catalog.export_products", "catalog.import_products")
    lines = [f"task {name} inactive: tenant={tenant.schema_name}" for name in names]
    driver.wait_for(
        lambda: all(line in worker.output_since_start() for line in lines),
        f"the worker to log the refusals of {tenant.slug}'s jobs",
        worker,
        timeout=TIMEOUT,
    )
    assert not default_storage.exists(f"{tenant.schema_name}/exports/{export.pk}.csv")
    assert not default_storage.exists(imported.input_path)  # the upload is dropped
    with tenant_scope(tenant):
        assert not Product.all_objects.exists()
    # Nothing held: no idempotency claim, no lock, no recorded run.
    assert tenant_keys(tenant, "idem") == []
    assert tenant_keys(tenant, "lock") == []


def test_work_queued_before_suspend_or_archive_fails_with_a_stable_code_and_never_runs(
    live_db, files, marker
):
    suspended, archived = new_tenant(live_db, "susp"), new_tenant(live_db, "arch")
    worker = driver.Worker(concurrency=1, env=files.env)
    with worker.sending():
        # Queued while both tenants are active; no worker takes anything yet.
        queued = {tenant.slug: submit_jobs(tenant) for tenant in (suspended, archived)}
        plain = []
        for tenant in (suspended, archived):
            with tenant_scope(tenant):
                plain.append(record_context.apply_async([marker], ignore_result=False))
        for tenant in (suspended, archived):
            assert {job_of(tenant, job).status for job in queued[tenant.slug]} == {"queued"}

        services.tenant_suspend(slug=suspended.slug, reason="unpaid")
        services.tenant_archive(slug=archived.slug)

        with worker:
            for result in plain:
                result.get(timeout=TIMEOUT, propagate=False)
                assert result.state == "FAILURE"
                assert isinstance(result.result, TenantInactive)
                assert result.result.code == "tenant_inactive"
            for tenant, status in ((suspended, "suspended"), (archived, "archived")):
                for job in queued[tenant.slug]:
                    done = driver.wait_for(
                        lambda t=tenant, j=job: (found := job_of(t, j)).is_finished and found,
                        f"the {job.kind} job of {tenant.slug} to finish",
                        worker,
                        timeout=TIMEOUT,
                    )
                    assert done.status == JobStatus.FAILED
                    assert done.error["code"] == "tenant_inactive"
                    assert status in done.error["message"]
                    assert done.started_at is None  # the body never ran
                assert_refused_jobs_left_nothing(tenant, queued[tenant.slug], worker)
            assert keys_for(marker) == set()

            # Beat's fan-out sends to active tenants only.
            active = {tenant.schema_name for tenant in active_tenants()}
            assert not {suspended.schema_name, archived.schema_name} & active
            sent = run_for_active_tenants.apply_async(
                ["tests.record_context", f"{marker}-fan"], ignore_result=False
            ).get(timeout=TIMEOUT)
            assert sorted(sent) == sorted(active)

            # Activated again: the tenant's new work runs (the old jobs stay failed).
            services.tenant_activate(slug=suspended.slug)
            with tenant_scope(suspended):
                owner = User.objects.get()
                again = jobs.job_submit(
                    kind="catalog.export", created_by=owner, task=export_products
                )
            done = driver.wait_for(
                lambda: (found := job_of(suspended, again)).is_finished and found,
                "the export after activation to finish",
                worker,
                timeout=TIMEOUT,
            )
            assert done.status == JobStatus.SUCCEEDED, done.error
            assert default_storage.exists(done.output_path)
            assert job_of(suspended, queued[suspended.slug][0]).status == JobStatus.FAILED


def test_jobs_queued_by_a_user_deactivated_before_they_ran_fail_and_never_run(
    live_db, files, marker
):
    """Through a real worker: an export and an import queued by a user who is deactivated
    (a plain ``save()``, as in a shell) before a worker takes them fail with
    ``user_inactive``; their bodies never run and nothing is held."""
    tenant = new_tenant(live_db, "quit")
    worker = driver.Worker(concurrency=1, env=files.env)
    with worker.sending():
        queued = submit_jobs(tenant)
        with tenant_scope(tenant):
            owner = User.objects.get()
            owner.is_active = False
            owner.save()
        with worker:
            for job in queued:
                done = driver.wait_for(
                    lambda j=job: (found := job_of(tenant, j)).is_finished and found,
                    f"the {job.kind} job to finish",
                    worker,
                    timeout=TIMEOUT,
                )
                assert (done.status, done.error["code"]) == (JobStatus.FAILED, "user_inactive")
                assert done.started_at is None  # the body never ran
            assert_refused_jobs_left_nothing(tenant, queued, worker)


@pytest.fixture(scope="module")
def worker(django_db_setup) -> Iterator[driver.Worker]:
    with driver.Worker(concurrency=1) as running, running.sending():
        yield running


def test_a_running_worker_notices_a_suspension_and_an_activation(worker, live_db, marker):
    tenant = new_tenant(live_db, "live")
    with tenant_scope(tenant):  # the worker's copy of the directory now holds the tenant
        assert record_context.apply_async([f"{marker}-0"], ignore_result=False).get(TIMEOUT)

    services.tenant_suspend(slug=tenant.slug)
    sends = iter(range(1, 1000))

    def refused() -> bool:
        # Sent after the suspension committed: each send may still find the worker's copy
        # from before it (for at most ATRIUM_TASK_TENANT_RECHECK_SECONDS), never longer.
        with tenant_scope(tenant):
            result = record_context.apply_async([f"{marker}-{next(sends)}"], ignore_result=False)
        result.get(timeout=TIMEOUT, propagate=False)
        return isinstance(result.result, TenantInactive)

    driver.wait_for(
        refused, "a task of the suspended tenant to be refused", worker, timeout=TIMEOUT
    )

    # The refusal is decided on the database: at once after activation, a task runs, even
    # though the worker's copy of the directory may still say "suspended".
    services.tenant_activate(slug=tenant.slug)
    with tenant_scope(tenant):
        observed = record_context.apply_async([f"{marker}-after"], ignore_result=False).get(TIMEOUT)
    assert observed["tenant"] == tenant.slug


# ----------------------------------------------------------------------------- eager mode


@pytest.mark.django_db
def test_a_job_whose_task_fails_for_good_is_marked_failed_not_left_running(tenant_a):
    with tenant_scope(tenant_a):
        owner = User.objects.get()
        job = jobs.job_create(
            kind="catalog.import", created_by=owner, input_path="alpha/imports/gone.csv"
        )
        with pytest.raises(FileNotFoundError):
            import_products.delay(str(job.pk))
        job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error["code"] == "job_failed"
    assert "gone.csv" not in job.error["message"]  # the details stay in the worker's log


@pytest.mark.django_db
def test_a_job_queued_for_a_suspended_tenant_is_refused_in_eager_mode_too(tenant_b):
    suspended = services.tenant_suspend(slug=tenant_b.slug)  # rolled back after the test
    with tenant_scope(suspended):
        owner = User.objects.get()
        job = jobs.job_create(kind="catalog.export", created_by=owner)
        with pytest.raises(TenantInactive, match="is suspended"):
            export_products.delay(str(job.pk))
        job.refresh_from_db()
    assert (job.status, job.error["code"]) == (JobStatus.FAILED, "tenant_inactive")
    assert job.started_at is None
