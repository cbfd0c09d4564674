"""Connection policy (atrium/tenants/database.py) against real PostgreSQL and real PgBouncer.

PgBouncer runs here in session and in transaction mode in front of the test database
(`make test` installs it when missing). PgBouncer refuses to run as root, so under root it
runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import override_settings

from atrium.tenants import database

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    def __init__(self, mode: str, workdir: Path) -> None:
        db = connection.settings_dict
        self.mode, self.port = mode, free_port()
        self.ini = workdir / f"{mode}.ini"
        self.pidfile = workdir / f"{mode}.pid"
        self.ini.write_text(
            "[databases]\n"
            f"* = host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
            f"user={db['USER'] or 'postgres'}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = any\npool_mode = {mode}\ndefault_pool_size = 4\n"
            f"logfile = {workdir / (mode + '.log')}\npidfile = {self.pidfile}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        command = [PGBOUNCER, str(self.ini)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"pgbouncer ({mode}) did not start: {self.proc.stderr.read().decode()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        try:  # runuser does not pass SIGTERM on: signal pgbouncer itself
            os.kill(int(self.pidfile.read_text()), 15)
        except (OSError, ValueError):
            self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pgbouncers(django_db_setup, django_db_blocker) -> Iterator[dict[str, PgBouncer]]:
    if not os.path.exists(PGBOUNCER):
        pytest.fail(
            "pgbouncer is not installed (make test installs it: apt-get install -y pgbouncer)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="atrium-pgbouncer-"))
    if os.geteuid() == 0:
        os.chown(workdir, pwd.getpwnam("postgres").pw_uid, -1)
    with django_db_blocker.unblock():
        started = {}
        try:
            for mode in ("session", "transaction"):
                started[mode] = PgBouncer(mode, workdir)
            yield started
        finally:
            for bouncer in started.values():
                bouncer.stop()
            shutil.rmtree(workdir, ignore_errors=True)


def wrapper_for(alias: str, port: int | None = None, pool: dict | None = None):
    """A Django connection to the test database, directly or through ``port``."""
    settings_dict = {**connection.settings_dict, "OPTIONS": {**connection.settings_dict["OPTIONS"]}}
    settings_dict["OPTIONS"].pop("pool", None)
    if port is not None:
        settings_dict.update(HOST="127.0.0.1", PORT=port)
    if pool is not None:
        settings_dict.update(CONN_MAX_AGE=0)
        settings_dict["OPTIONS"]["pool"] = pool
    database.wire_pool(settings_dict)  # what TenantsConfig.ready() does for settings.DATABASES
    # Registered, because django.contrib.postgres looks the alias up when it connects.
    connections.settings[alias] = settings_dict
    return connections[alias]


@pytest.fixture(autouse=True)
def _forget_extra_aliases() -> Iterator[None]:
    yield
    for alias in list(connections.settings):
        if alias != "default":
            connections[alias].close()
            connections[alias].close_pool()
            del connections[alias]
            del connections.settings[alias]
    database.forget_verdicts()


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_direct_connection_is_checked_and_accepted(live_db):
    direct = wrapper_for("direct_check")
    assert backend_pid(direct) > 0
    assert database._verdicts["direct_check"] is None  # checked, found session-bound


def test_session_pooler_is_accepted(live_db, pgbouncers):
    through = wrapper_for("session_check", port=pgbouncers["session"].port)
    with through.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == connection.settings_dict["NAME"]
    assert database._verdicts["session_check"] is None


def test_transaction_pooler_is_refused_with_a_clear_message(live_db, pgbouncers):
    through = wrapper_for("transaction_check", port=pgbouncers["transaction"].port)
    for _attempt in (1, 2):  # refused at every connection, not only the first
        with pytest.raises(database.TransactionPoolerError) as refused:
            through.ensure_connection()
        assert through.connection is None
    message = str(refused.value)
    assert "transaction or statement mode" in message
    assert "served by the same backend" in message
    assert "`pool_mode = session`" in message and "docs/scaling.md" in message


def test_pooled_connection_is_retired_after_max_uses(live_db):
    pooled = wrapper_for("retire_check", pool={"min_size": 1, "max_size": 1, "timeout": 10})
    with override_settings(ATRIUM_DB_POOL_MAX_USES=3):
        pids = []
        for _borrow in range(5):
            pids.append(backend_pid(pooled))
            pooled.close()  # back to the pool, through the reset callback
    assert pids[0] == pids[1] == pids[2]
    assert pids[3] != pids[0] and pids[3] == pids[4]
    with connection.cursor() as cursor:  # the retired backend is gone, not idle
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pids[0]])
        assert cursor.fetchone()[0] == 0
