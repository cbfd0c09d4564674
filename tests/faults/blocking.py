"""Hold a process still at a known point: a PostgreSQL lock it must wait for.

A test takes the lock on a connection of its own, starts the process, waits until that
process's backend waits for the lock (``pg_stat_activity``), and can then kill the process
at exactly that point of its transaction.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.conf import settings


def connection_params() -> dict:
    db = settings.DATABASES["default"]
    return {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": db["NAME"]}


class LockBlocker:
    """A transaction holding locks, and a monitor watching who waits for them."""

    def __init__(self) -> None:
        self.holder = psycopg.connect(**connection_params(), autocommit=False)
        # pg_stat_activity is snapshotted per transaction: watch from a connection of its own.
        self.monitor = psycopg.connect(**connection_params(), autocommit=True)
        self.waiting_pid: int | None = None

    def hold(self, sql: str, params: list | None = None) -> None:
        self.holder.execute(sql, params)

    def wait_until_blocked(self, process, what: str, timeout: float = 60) -> int:
        """The backend pid of the session that now waits for one of the held locks."""
        holder_pid = self.holder.info.backend_pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.monitor.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
                [holder_pid],
            ).fetchone()
            if row:
                self.waiting_pid = row[0]
                return row[0]
            if not process.running():
                pytest.fail(f"{what} ended before it reached the lock:\n{process.logs()}")
            time.sleep(0.05)
        pytest.fail(f"{what} never waited for the lock:\n{process.logs()}")

    def release(self) -> None:
        """Roll the holder back; the orphaned backend then finds its client gone."""
        self.holder.rollback()

    def wait_for_orphan_to_end(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.waiting_pid is not None and time.monotonic() < deadline:
            alive = self.monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [self.waiting_pid]
            ).fetchone()[0]
            if not alive:
                return
            time.sleep(0.05)
        if self.waiting_pid is not None:
            pytest.fail(f"backend {self.waiting_pid} outlived its killed client")

    def close(self) -> None:
        for conn in (self.holder, self.monitor):
            if not conn.closed:
                conn.close()

    def __enter__(self) -> LockBlocker:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
        self.close()
