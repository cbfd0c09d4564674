"""Catalog background work: export and import jobs, and the nightly maintenance run once
per active tenant by beat."""

from datetime import timedelta

from django.utils import timezone

from atrium.conf import atrium_settings
from atrium.platform.jobs.models import Job
from atrium.platform.jobs.tasks import job_task
from atrium.platform.tasks import tenant_task

from . import services, transfer
from .models import Category, Product, Review


@job_task(name="catalog.export_products")
def export_products(job_id: str) -> None:
    job = Job.objects.get(pk=job_id)
    if not job.is_finished:
        transfer.export_run(job=job)


@job_task(name="catalog.import_products")
def import_products(job_id: str) -> None:
    job = Job.objects.get(pk=job_id)
    if not job.is_finished:
        transfer.import_run(job=job)


@tenant_task(name="catalog.purge_deleted", idempotent=True)
def purge_deleted() -> dict[str, int]:
    """Hard-delete rows soft-deleted longer ago than ATRIUM_SOFT_DELETE_RETENTION_DAYS."""
    cutoff = timezone.now() - timedelta(days=atrium_settings.SOFT_DELETE_RETENTION_DAYS)
    counts = {}
    for model in (Review, Product, Category):
        old = model.all_objects.filter(is_deleted=True, deleted_at__lt=cutoff)
        if model is Product:  # reviews of a purged product go with it (cascade)
            old = old.exclude(pk__in=Review.all_objects.filter(is_deleted=False).values("product"))
        if model is Category:  # a category still used by any row stays
            old = old.exclude(pk__in=Product.all_objects.values("category")).exclude(
                pk__in=Category.all_objects.exclude(parent=None).values("parent")
            )
        counts[model._meta.model_name] = old.hard_delete()[0]
    return counts


@tenant_task(name="catalog.recompute_stats", idempotent=True)
def recompute_stats() -> int:
    return services.product_stats_recompute()
