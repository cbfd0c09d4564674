"""Periodic work: the beat schedule names real tasks, and the per-tenant upkeep tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.test import override_settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from atrium.platform.accounts.models import User
from atrium.platform.accounts.tasks import flush_expired_tokens
from atrium.platform.schedule import tenant_periodic_tasks
from atrium.platform.tasks import PlatformTask, TenantTask, pool_refill
from atrium.tenants.context import tenant_scope
from config.celery import app as celery_app
from tests.fixtures import REPO_ROOT, cli_env


def beat_schedule() -> dict:
    celery_app.loader.import_default_modules()
    celery_app.finalize()  # as beat does before it reads its schedule
    return celery_app.conf.beat_schedule


def test_every_periodic_tenant_task_is_a_registered_tenant_task():
    periodic = tenant_periodic_tasks()
    schedule = beat_schedule()
    assert periodic
    for name in periodic:
        assert isinstance(celery_app.tasks.get(name), TenantTask), name
    for entry, spec in schedule.items():
        assert spec["task"] in celery_app.tasks, entry
        if spec["task"] == "platform.run_for_active_tenants":
            assert spec["args"][0] in periodic, entry


def test_beat_runs_the_pool_top_up_and_the_token_flush():
    schedule = beat_schedule()
    tasks = {spec["task"] for spec in schedule.values()}
    fanned_out = {
        spec["args"][0]
        for spec in schedule.values()
        if spec["task"] == "platform.run_for_active_tenants"
    }
    assert "tenants.pool_refill" in tasks
    assert "accounts.flush_expired_tokens" in fanned_out
    assert isinstance(pool_refill, PlatformTask) and pool_refill.acks_late


# What `celery beat` does before it reads its schedule (celery.apps.beat.Beat.init_loader),
# then the schedule its scheduler holds.
BEAT_SCHEDULE = """
import json
from celery.beat import Scheduler
from config.celery import app
app.loader.init_worker()
app.finalize()
entries = Scheduler(app, lazy=False).schedule.items()
print(json.dumps({n: [e.task, list(e.args), repr(e.schedule), e.options] for n, e in entries}))
"""


def test_a_beat_process_sees_the_platforms_entries_and_each_apps_periodic_tasks():
    """The apps declare their periodic work (AppConfig.tenant_periodic_tasks); beat sees the
    same entries as when they were listed in the shared settings."""
    out = subprocess.run(
        [sys.executable, "-c", BEAT_SCHEDULE],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    fan_out = "platform.run_for_active_tenants"
    hourly = {"expires": 3600}
    assert json.loads(out.stdout) == {
        "tenants.pool_refill": [
            "tenants.pool_refill",
            [],
            "<freq: 5.00 minutes>",
            {"expires": 300},
        ],
        "tenants.usage_flush": [
            "tenants.usage_flush",
            [],
            "<freq: 5.00 minutes>",
            {"expires": 300},
        ],
        "accounts.flush_expired_tokens for every active tenant": [
            fan_out,
            ["accounts.flush_expired_tokens"],
            "<crontab: 17 3 * * * (m/h/dM/MY/d)>",
            hourly,
        ],
        "audit.purge_expired for every active tenant": [
            fan_out,
            ["audit.purge_expired"],
            "<crontab: 47 2 * * * (m/h/dM/MY/d)>",
            hourly,
        ],
        "catalog.purge_deleted for every active tenant": [
            fan_out,
            ["catalog.purge_deleted"],
            "<crontab: 37 3 * * * (m/h/dM/MY/d)>",
            hourly,
        ],
        "catalog.recompute_stats for every active tenant": [
            fan_out,
            ["catalog.recompute_stats"],
            "<crontab: 7 4 * * * (m/h/dM/MY/d)>",
            hourly,
        ],
    }


def test_the_setting_replaces_what_the_apps_declare():
    declared = tenant_periodic_tasks()
    assert set(declared) == {
        "accounts.flush_expired_tokens",
        "audit.purge_expired",
        "catalog.purge_deleted",
        "catalog.recompute_stats",
    }
    with override_settings(ATRIUM_TENANT_PERIODIC_TASKS={"catalog.purge_deleted": crontab()}):
        assert tenant_periodic_tasks() == {"catalog.purge_deleted": crontab()}


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
