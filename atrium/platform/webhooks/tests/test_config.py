"""Where webhooks are configured: the default worker consumes the webhooks queue, and
https is required in production settings only."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.fixtures import REPO_ROOT, cli_env

PRINT_SETTINGS = (
    "import django; django.setup(); from atrium.conf import atrium_settings as s; "
    "from config.celery import app; "
    "print(s.WEBHOOK_REQUIRE_HTTPS, s.WEBHOOK_QUEUE, sorted(q.name for q in app.conf.task_queues))"
)


def _settings(module: str) -> str:
    env = {
        **cli_env(),
        "DJANGO_SETTINGS_MODULE": module,
        "SECRET_KEY": "x" * 64,
        "DEBUG": "0",
    }
    env.pop("ATRIUM_WEBHOOK_REQUIRE_HTTPS", None)
    out = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_https_is_required_in_production_only():
    assert _settings("config.settings.prod") == "True webhooks ['celery', 'webhooks']"
    assert _settings("config.settings.dev") == "False webhooks ['celery', 'webhooks']"


def test_the_default_worker_consumes_every_declared_queue():
    """Without -Q a worker consumes CELERY_TASK_QUEUES: make run and compose start it so."""
    run_sh = (REPO_ROOT / "scripts/run.sh").read_text()
    [worker_line] = [
        line for line in run_sh.splitlines() if "celery" in line and " worker " in line
    ]
    assert " -Q " not in worker_line and "--queues" not in worker_line
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["worker"]["command"]
    assert "worker" in command and "-Q" not in command and "--queues" not in command
