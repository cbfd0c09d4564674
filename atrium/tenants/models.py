"""Tenant and Domain: the public-schema tables that say which schema serves which host; and
the schema names of purged tenants, which are never given out again."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django_tenants.models import DomainMixin, TenantMixin

from .plans import default_plan, plan_choices


class TenantStatus(models.TextChoices):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


class Tenant(TenantMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=TenantStatus.choices, default=TenantStatus.PROVISIONING
    )
    status_reason = models.CharField(max_length=500, blank=True, default="")
    plan = models.CharField(max_length=32, default=default_plan, choices=plan_choices)
    # Origins of browser apps allowed to call this tenant's API (CORS), each as
    # scheme://host[:port], validated by atrium.tenants.cors; carried by the routing
    # directory, so the check costs no SQL.
    cors_origins = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Provisioning owns the schema's life cycle (atrium.tenants.provisioning), so saving a
    # row never creates or drops a schema behind its back.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=TenantStatus.values), name="tenant_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_serving(self) -> bool:
        return self.status == TenantStatus.ACTIVE


class Domain(DomainMixin):
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        constraints = [
            # At most one primary domain per tenant, enforced by the database.
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(is_primary=True),
                name="domain_one_primary_per_tenant",
            ),
            models.UniqueConstraint(Lower("domain"), name="domain_unique_ci"),
        ]


class RetiredSchemaName(models.Model):
    """The schema name of a purged tenant: never given to another tenant.

    A tenant's schema name is its identity outside PostgreSQL too: its Redis key space
    (``t:<schema>:``), its channel groups (``t.<schema>.…``), its storage folder and the
    tenant header of its Celery messages are all built from it. A later tenant with the
    same slug therefore gets another schema name, and nothing of the old tenant that a purge
    could not reach (a socket still in a group, a queued message) ever reaches the new one.
    """

    name = models.CharField(max_length=63, primary_key=True)
    retired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
