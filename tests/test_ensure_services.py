"""scripts/ensure_services.sh: the system packages that ``make test`` and ``make run`` need.

Nothing is installed here: the script sees a PATH of our own, in which ``apt-get`` is a stub
that records its arguments, and programs are "missing" because that PATH lacks them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.driver import free_port
from tests.fixtures import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "ensure_services.sh"
# Programs the script itself uses, and the clients that are "installed" in every case.
TOOLS = ("bash", "id", "find", "sort", "tail", "timeout", "sed", "ls", "psql", "pg_isready")
APT_STUB = """#!/bin/sh
echo "$*" >> "$APT_LOG"
"""


@pytest.fixture
def bin_dir() -> Iterator[Path]:
    """A PATH directory with the basic tools, python3, psql and a recording apt-get, and
    without redis-server, pgbouncer and sudo; in /tmp, where an unprivileged user can
    reach it (pytest's tmp_path is private to the user running the tests)."""
    with tempfile.TemporaryDirectory(prefix="atrium-services-") as tmp:
        Path(tmp).chmod(0o755)
        yield _bin_dir(Path(tmp))


def _bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool, path=f"{os.environ['PATH']}:/usr/sbin:/usr/bin:/bin")
        assert found, f"{tool} is needed for this test"
        (path / tool).symlink_to(found)
    # The system Python: readable by an unprivileged user, unlike a pyenv under /root.
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    (path / "python3").symlink_to(python)
    stub = path / "apt-get"
    stub.write_text(APT_STUB)
    stub.chmod(0o755)
    return path


def run(bin_dir: Path, *args: str, as_nobody: bool = False, **env: str):
    apt_log = bin_dir.parent / "apt.log"
    environment = {
        "PATH": str(bin_dir),
        "HOME": str(bin_dir.parent),
        "APT_LOG": str(apt_log),
        "ATRIUM_SBIN_PATH": "",  # no /usr/sbin fallback: pgbouncer is there on this machine
        "ATRIUM_CHROMIUM": str(bin_dir / "chromium"),  # missing
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/atrium"),
        "REDIS_URL": settings.REDIS_URL,
        **env,
    }
    command = ["bash", str(SCRIPT), *args]
    if as_nobody:
        apt_log.touch()
        apt_log.chmod(0o666)
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        command = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=120, cwd=bin_dir
    )
    calls = apt_log.read_text().splitlines() if apt_log.exists() else []
    return result, calls


def shown(packages: str, root: bool) -> str:
    if root:
        return f"apt-get update && apt-get install -y {packages}"
    return f"sudo apt-get update && sudo apt-get install -y {packages}"


def test_check_reports_the_exact_apt_command_for_what_the_tests_need(bin_dir):
    result, calls = run(bin_dir, "--for", "test", "--check")
    assert result.returncode == 1, result.stderr
    expected = shown("redis-server chromium pgbouncer", os.geteuid() == 0)
    assert f"missing: redis-server chromium pgbouncer; to install: {expected}" in result.stdout
    assert calls == []  # --check installs nothing


def test_check_for_run_needs_no_browser_or_pooler(bin_dir):
    result, calls = run(bin_dir, "--check")
    assert (result.returncode, calls) == (0, []), result.stdout + result.stderr
    assert "system packages present (for make run)" in result.stdout


def test_for_run_a_server_is_needed_only_where_none_answers(bin_dir):
    # Redis answers at REDIS_URL (above), so redis-server need not be installed; on a
    # local port where nothing listens, it must be.
    result, _ = run(bin_dir, "--check", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1
    assert f"missing: redis-server; to install: {shown('redis-server', os.geteuid() == 0)}" in (
        result.stdout
    )
    # Another machine's server: nothing to install here.
    result, _ = run(bin_dir, "--check", REDIS_URL="redis://redis.invalid:6379/0")
    assert result.returncode == 0, result.stdout


def test_a_missing_postgresql_server_is_one_package_with_its_client(bin_dir):
    result, _ = run(bin_dir, "--for", "test", "--check", ATRIUM_POSTGRES_LIB=str(bin_dir))
    assert "missing: postgresql redis-server chromium pgbouncer;" in result.stdout
    (bin_dir / "psql").unlink()
    pg_down = f"postgres://postgres@127.0.0.1:{free_port()}/atrium"
    result, _ = run(bin_dir, "--check", ATRIUM_POSTGRES_LIB=str(bin_dir), DATABASE_URL=pg_down)
    assert "missing: postgresql;" in result.stdout  # and not postgresql-client as well


def test_without_root_or_sudo_it_stops_at_once_with_the_command(bin_dir):
    # An unprivileged user whose PATH has no sudo: nothing may be installed.
    as_nobody = os.geteuid() == 0
    result, calls = run(bin_dir, "--for", "test", as_nobody=as_nobody)
    assert result.returncode == 1, result.stdout + result.stderr
    assert calls == []
    assert shown("redis-server chromium pgbouncer", root=False) in result.stderr
    assert "PostgreSQL" not in result.stdout  # stopped before looking at the services


def test_as_root_it_installs_the_missing_packages_with_apt_get(bin_dir):
    result, calls = run(bin_dir, "--for", "test")
    if os.geteuid() != 0:  # the same run as an unprivileged user stops instead
        assert (result.returncode, calls) == (1, [])
        return
    assert calls == ["update", "install -y redis-server chromium pgbouncer"], result.stderr
    assert "services: installing redis-server chromium pgbouncer with apt-get" in result.stdout


def test_a_non_debian_machine_gets_the_package_names(bin_dir):
    (bin_dir / "apt-get").unlink()
    result, _ = run(bin_dir, "--for", "test", "--check")
    assert result.returncode == 1
    assert "missing: redis-server chromium pgbouncer (Debian package names)" in result.stderr


def test_bad_arguments_are_refused():
    result = subprocess.run(
        ["bash", str(SCRIPT), "--for", "prod"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "services: --for takes 'run' or 'test' (got 'prod')"
