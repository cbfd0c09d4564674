"""What ``make run`` prints: each log line once, no warning box that scripts/run.sh explains."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures import REPO_ROOT, cli_env


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**cli_env(), "DJANGO_SETTINGS_MODULE": "config.settings.dev", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_django_request_warning_is_logged_once():
    result = run_python(
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Not Found: /nope-%s/', 42)"
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "/nope-42/" in line]
    assert len(lines) == 1, result.stderr
    assert "WARNING django.request" in lines[0]


CELERY_ROOT_WARNING = (
    "import warnings; warnings.simplefilter('default'); import config.celery; "
    "from celery import platforms; "
    "platforms._warn_or_raise_security_error(0, 0, 0, 0, False)"
)


def test_the_celery_superuser_warning_is_silenced_only_where_run_sh_explains_it():
    warned = run_python(CELERY_ROOT_WARNING)
    assert warned.returncode == 0, warned.stderr
    assert "superuser privileges" in warned.stderr

    explained = run_python(CELERY_ROOT_WARNING, ATRIUM_CELERY_ROOT_EXPLAINED="1")
    assert explained.returncode == 0, explained.stderr
    assert "superuser privileges" not in explained.stderr
    run_sh = (REPO_ROOT / "scripts/run.sh").read_text()
    assert "export ATRIUM_CELERY_ROOT_EXPLAINED=1" in run_sh
