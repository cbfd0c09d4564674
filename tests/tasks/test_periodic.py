"""Periodic work: the beat schedule names real tasks, and the per-tenant upkeep tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from atrium.platform.accounts.models import User
from atrium.platform.accounts.tasks import flush_expired_tokens
from atrium.platform.tasks import PlatformTask, TenantTask, pool_refill
from atrium.tenants.context import tenant_scope
from config.celery import app as celery_app


def test_every_periodic_tenant_task_is_a_registered_tenant_task():
    celery_app.loader.import_default_modules()
    for name in settings.ATRIUM_TENANT_PERIODIC_TASKS:
        assert isinstance(celery_app.tasks.get(name), TenantTask), name
    for entry, spec in settings.CELERY_BEAT_SCHEDULE.items():
        assert spec["task"] in celery_app.tasks, entry
        if spec["task"] == "platform.run_for_active_tenants":
            assert spec["args"][0] in settings.ATRIUM_TENANT_PERIODIC_TASKS, entry


def test_beat_runs_the_pool_top_up_and_the_token_flush():
    tasks = {spec["task"] for spec in settings.CELERY_BEAT_SCHEDULE.values()}
    fanned_out = {
        spec["args"][0]
        for spec in settings.CELERY_BEAT_SCHEDULE.values()
        if spec["task"] == "platform.run_for_active_tenants"
    }
    assert "tenants.pool_refill" in tasks
    assert "accounts.flush_expired_tokens" in fanned_out
    assert isinstance(pool_refill, PlatformTask) and pool_refill.acks_late


def _token(user: User | None, *, expires_in: timedelta, blacklisted: bool) -> OutstandingToken:
    now = timezone.now()
    token = OutstandingToken.objects.create(
        user=user,
        jti=f"jti-{OutstandingToken.objects.count()}-{now.timestamp()}",
        token="x",
        created_at=now,
        expires_at=now + expires_in,
    )
    if blacklisted:
        BlacklistedToken.objects.create(token=token)
    return token


@pytest.mark.django_db
def test_flush_expired_tokens_deletes_only_expired_rows_of_its_tenant(tenant_a, tenant_b):
    with tenant_scope(tenant_b):
        beta_expired = _token(None, expires_in=timedelta(hours=-1), blacklisted=True)
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
        _token(owner, expires_in=timedelta(hours=-1), blacklisted=True)
        _token(owner, expires_in=timedelta(seconds=-1), blacklisted=False)
        fresh = _token(owner, expires_in=timedelta(days=1), blacklisted=True)

        assert flush_expired_tokens.delay().get() == 2

        assert set(OutstandingToken.objects.values_list("pk", flat=True)) == {fresh.pk}
        # The blacklist row of the expired token went with it (cascade); the fresh one stays.
        assert set(BlacklistedToken.objects.values_list("token_id", flat=True)) == {fresh.pk}
    with tenant_scope(tenant_b):
        assert OutstandingToken.objects.filter(pk=beta_expired.pk).exists()
        assert BlacklistedToken.objects.filter(token_id=beta_expired.pk).exists()
