"""Tenant and Domain: the public-schema tables that say which schema serves which host; and
the schema names of purged tenants, which are never given out again."""

import uuid

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
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
    # Owners and admins must turn on MFA (TOTP) before the API serves them anything else
    # (atrium.platform.mfa); carried by the routing directory, so the check costs no SQL.
    require_mfa_for_admins = models.BooleanField(default=False, db_default=False)
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


class TenantUsage(models.Model):
    """What one tenant used on one day (UTC): written by the metering flush
    (``atrium.tenants.usage.usage_flush``, run by beat) from the day's Redis counters and
    the tenant's current sizes. The counters are absolute for the day, so a flush that
    runs twice writes the same row."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    api_requests = models.BigIntegerField(default=0)
    # Distinct users who called the API that day (a HyperLogLog estimate: ~1% off).
    active_users = models.IntegerField(default=0)
    # Sizes when the day was last flushed.
    seats = models.IntegerField(default=0)
    products = models.IntegerField(default=0)
    storage_bytes = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "tenant_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day"], name="tenantusage_one_row_per_day")
        ]
        indexes = [models.Index(fields=["day", "-api_requests"], name="tenantusage_day_requests")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day}"


class PlatformAuditEvent(models.Model):
    """One operator action on the platform (``atrium.tenants.audit.platform_audit_record``):
    append-only, refused UPDATE and DELETE by a trigger. The tenant is kept by id and slug,
    not by foreign key, so that a purge's own record outlives the tenant."""

    at = models.DateTimeField(default=timezone.now, editable=False)
    action = models.CharField(max_length=64)
    tenant_id = models.UUIDField(null=True, blank=True)
    tenant_slug = models.CharField(max_length=63, blank=True, default="")
    # Who: "cli", "admin" or "system", and the admin user's e-mail (admin) or the OS user.
    source = models.CharField(max_length=16)
    actor = models.CharField(max_length=255, blank=True, default="")
    os_user = models.CharField(max_length=150, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="platformaudit_newest"),
            models.Index(fields=["tenant_slug", "-at"], name="platformaudit_tenant"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.tenant_slug}"
