"""Health and readiness on every host, and production's refusal of unsafe settings."""

import subprocess
import sys

import pytest
from django.test import Client, override_settings

from .fixtures import REPO_ROOT, cli_env

DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "KEY_FUNCTION": "atrium.tenants.keyspace.cache_key",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


@pytest.mark.parametrize("host", ["localhost", "alpha.localhost", "beta.localhost:8000"])
@pytest.mark.django_db
def test_health_and_readiness_answer_on_every_host(tenant_a, tenant_b, host):
    client = Client(HTTP_HOST=host)
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(tenant_a):
    client = Client(HTTP_HOST="localhost")  # the public host routes without Redis
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"] == {"postgres": "ok", "redis": "unavailable"}


def run_prod_settings(**env_overrides: str) -> subprocess.CompletedProcess:
    env = cli_env()
    env.pop("SECRET_KEY", None)
    env.pop("DEBUG", None)
    env.update(DJANGO_SETTINGS_MODULE="config.settings.prod", **env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_real_secret_key():
    result = run_prod_settings()
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_debug():
    result = run_prod_settings(SECRET_KEY="x" * 64, DEBUG="1")
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_starts_with_a_real_secret_key():
    result = run_prod_settings(SECRET_KEY="k" * 64)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout
