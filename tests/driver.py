"""Real processes for tests: the ASGI server, Celery worker and beat, ``manage.py``
commands, and a Redis and a PostgreSQL of the test's own.

Each is a class with ``start()`` / ``stop()`` that is also a context manager, captures its
output in a log file (``log_tail()`` for assertion messages) and runs in a process group
of its own, killed at ``stop()`` whatever state the test left it in (and, as a last
resort, when the test process exits). By default the
processes run on the test run's database and Redis (``cli_env()``); the fault suites pass
the ``env()`` of a ``PrivateRedis`` or a ``PrivatePostgres`` instead, because they stop
and restart what they use and the shared services must never go down.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures import REPO_ROOT, cli_env

DEFAULT_TIMEOUT = 30


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for(
    check: Callable[[], Any],
    what: str,
    *watched: ManagedProcess,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
) -> Any:
    """Poll ``check`` until it returns something truthy (and return that); fail the test
    with the logs of ``watched`` when it times out or one of them exits."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for process in watched:
            if not process.running():
                pytest.fail(f"{process.name} exited while waiting for {what}:\n{process.logs()}")
        if time.monotonic() > deadline:
            logs = "\n".join(process.logs() for process in watched)
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(interval)


# Everything started and not cleaned up yet: stopped at exit if a test run is interrupted.
_alive: set = set()


@atexit.register
def _clean_up_leftovers() -> None:
    for leftover in list(_alive):
        with contextlib.suppress(Exception):  # best effort: the interpreter is going away
            leftover.cleanup()


class _StartedInWith:
    """``with thing:`` starts it and always cleans up, also when starting fails halfway."""

    def start(self): ...

    def cleanup(self) -> None: ...

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.cleanup()


class ManagedProcess(_StartedInWith):
    """One long-running child process in a session of its own, logging to ``log``."""

    name = "process"

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"atrium-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None
        self.log_offset = 0

    # -- to implement
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def wait_ready(self, timeout: float) -> None:
        """Return when the process serves; raise or fail when it does not."""

    # -- lifecycle
    def start(self, timeout: float = 60) -> ManagedProcess:
        assert not self.running(), f"{self.name} is already running"
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        _alive.add(self)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children share its group: stopped together
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def stop(self, timeout: float = 20) -> None:
        """Graceful stop (SIGTERM), then SIGKILL of the whole group, children included."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self._kill_group()

    def kill(self) -> None:
        """SIGKILL the process and every child at once: a crash, no shutdown code runs."""
        if self.process is not None:
            self._kill_group()

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        _alive.discard(self)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- diagnostics
    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self, lines: int = 80) -> str:
        return f"--- {self.name} log ({self.log}) ---\n{self.log_tail(lines)}"

    def output_since_start(self) -> str:
        """What the process logged since the last ``start()`` (a restart appends)."""
        try:
            with self.log.open("rb") as log:
                log.seek(self.log_offset)
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def run_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test run's environment for a child process (settings, test database, the run's
    Redis URLs), with ``overrides`` on top."""
    env = cli_env()
    env.update(overrides or {})
    return env


class ManageCommand(ManagedProcess):
    """``manage.py <args>`` running in the background (``run_cli`` waits for its end), so a
    test can watch it and kill it mid-way."""

    name = "manage.py"

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.args = args
        self.overrides = dict(env or {})

    def command(self) -> list[str]:
        return [sys.executable, str(REPO_ROOT / "manage.py"), *self.args]

    def environment(self) -> dict[str, str]:
        return run_environment(self.overrides)

    def wait(self, timeout: float = 60) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.wait(timeout=timeout)


# ----------------------------------------------------------------------------- web server


class Server(ManagedProcess):
    """``uvicorn config.asgi:application`` (HTTP + WebSocket) on 127.0.0.1 and a free port.

    Requests go to 127.0.0.1 with the tenant's ``Host`` (``alpha.localhost:<port>``):
    Python's resolver does not map ``*.localhost`` to the loopback like browsers do.
    """

    name = "uvicorn"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        port: int | None = None,
        log_level: str = "info",
    ) -> None:
        super().__init__(workdir)
        self.overrides = dict(env or {})
        self.port = port or free_port()
        self.log_level = log_level
        self._local = threading.local()  # one HTTP session per thread: load from threads
        self._sessions: list[requests.Session] = []

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "uvicorn", "config.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            # As in production (scripts/run.sh, Dockerfile): the app alone reads X-Forwarded-For.
            *("--no-proxy-headers", "--lifespan", "off", "--ws-max-size", "65536"),
            *("--log-level", self.log_level, "--no-access-log"),
        ]

    def environment(self) -> dict[str, str]:
        return run_environment(self.overrides)

    def wait_ready(self, timeout: float) -> None:
        def answers() -> bool:
            try:
                return self.get("localhost", "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(answers, f"{self.name} to answer /healthz", self, timeout=timeout, interval=0.1)

    def url(self, host: str, path: str = "/") -> str:
        """``http://<host>:<port><path>``, for clients that resolve ``*.localhost``."""
        return f"http://{host}:{self.port}{path}"

    def ws_url(self, host: str, path: str = "/ws/events/") -> str:
        return f"ws://{host}:{self.port}{path}"

    def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10,
        **kwargs: Any,
    ) -> requests.Response:
        sent = {"Host": f"{host}:{self.port}", "Accept": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return self.session.request(
            method,
            f"http://127.0.0.1:{self.port}{path}",
            headers=sent,
            json=json,
            timeout=timeout,
            allow_redirects=False,
            **kwargs,
        )

    def get(self, host: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", host, path, **kwargs)

    def post(self, host: str, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", host, path, json=json, **kwargs)

    def login(self, host: str, email: str, password: str) -> str:
        """An access token of ``email`` on ``host``'s tenant."""
        response = self.post(
            host, "/api/v1/auth/token/", json={"email": email, "password": password}
        )
        assert response.status_code == 200, f"login failed: {response.status_code} {response.text}"
        return response.json()["access"]

    def cleanup(self) -> None:
        for session in self._sessions:
            session.close()
        super().cleanup()


# ----------------------------------------------------------------------------- celery worker


class Worker(ManagedProcess):
    """A real ``celery worker`` (prefork) on a queue of its own, so that parallel runs
    sharing a broker database never take each other's messages.

    It runs the settings of ``tests/live_settings.py`` (the test settings without eager
    mode, with a result backend). ``sending()`` points this process's Celery app at it;
    ``sender_env()`` does the same for a ``Server`` whose requests send tasks.
    """

    name = "celery-worker"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        concurrency: int = 2,
        include: tuple[str, ...] = ("tests.tasks.worker_tasks",),
        queue: str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.overrides = dict(env or {})
        self.concurrency = concurrency
        self.include = include
        self.queue = queue or f"atrium-tests-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.hostname = f"{self.queue}@localhost"

    @property
    def broker_url(self) -> str:
        return self.environment()["TEST_CELERY_BROKER_URL"]

    def sender_env(self) -> dict[str, str]:
        """Environment of a process that sends its tasks to this worker."""
        return {
            "DJANGO_SETTINGS_MODULE": "tests.live_settings",
            "ATRIUM_TEST_CELERY_QUEUE": self.queue,
            "ATRIUM_TEST_CELERY_RESULT_BACKEND": self.broker_url,
        }

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "celery", "-A", "config.celery", "worker"),
            *("--pool=prefork", f"--concurrency={self.concurrency}", "--loglevel=INFO"),
            *("--queues", self.queue, "--hostname", self.hostname),
            *(arg for module in self.include for arg in ("--include", module)),
            *("--without-heartbeat", "--without-gossip", "--without-mingle"),
        ]

    def environment(self) -> dict[str, str]:
        env = run_environment(self.overrides)
        env.setdefault("TEST_CELERY_BROKER_URL", _test_settings().CELERY_BROKER_URL)
        broker = env["TEST_CELERY_BROKER_URL"]
        env.update(
            DJANGO_SETTINGS_MODULE="tests.live_settings",
            ATRIUM_TEST_CELERY_QUEUE=self.queue,
            ATRIUM_TEST_CELERY_RESULT_BACKEND=broker,
        )
        return env

    def wait_ready(self, timeout: float) -> None:
        # The worker logs "ready" once it consumes; a ping would need this process's app to
        # be on the same broker, which a worker on a private Redis is not.
        wait_for(
            lambda: f"{self.hostname} ready." in self.output_since_start(),
            f"{self.name} to be ready",
            self,
            timeout=timeout,
            interval=0.1,
        )

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Send this process's tasks to the worker: no eager mode, its queue and broker, a
        result backend to read outcomes. Restored on exit."""
        from django.test import override_settings

        from config.celery import app as celery_app

        conf = {
            "task_always_eager": False,
            "task_default_queue": self.queue,
            "broker_url": self.broker_url,
            "result_backend": self.broker_url,
        }
        saved = {key: celery_app.conf[key] for key in conf}
        overrides = override_settings(CELERY_TASK_ALWAYS_EAGER=False)
        overrides.enable()
        celery_app.conf.update(conf)
        _reset_celery_connections(celery_app)
        try:
            yield
        finally:
            celery_app.conf.update(saved)
            _reset_celery_connections(celery_app)
            overrides.disable()

    def delete_queue(self) -> None:
        """Remove the queue, any message left in it and its binding from the broker."""
        import kombu.exceptions
        import redis.exceptions

        from config.celery import app as celery_app

        unreachable = (OSError, redis.exceptions.RedisError, kombu.exceptions.KombuError)
        # A private broker may be down already (and takes the queue with it).
        with (
            contextlib.suppress(*unreachable),
            celery_app.connection_for_write(self.broker_url) as connection,
        ):
            connection.ensure_connection(max_retries=1)
            # Redis unbinds only what the channel declared itself: declare, then delete.
            queue = celery_app.amqp.queues[self.queue](connection.default_channel)
            queue.declare()
            queue.delete()

    def cleanup(self) -> None:
        super().cleanup()
        self.delete_queue()


class Beat(ManagedProcess):
    """``celery beat`` sending to ``worker``'s queue. With ``fan_out=(task, argument)`` its
    only entry fans ``task(argument)`` out to every active tenant each second, as beat does
    for the apps' periodic tenant tasks (see ``tests/live_settings.py``)."""

    name = "celery-beat"

    def __init__(
        self,
        worker: Worker,
        fan_out: tuple[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.worker = worker
        self.overrides = {**worker.overrides, **(env or {}), **worker.sender_env()}
        if fan_out:
            self.overrides["ATRIUM_TEST_BEAT_FAN_OUT"] = " ".join(fan_out)

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "celery", "-A", "config.celery", "beat"),
            *("--loglevel=INFO", "--schedule", str(self.workdir / "beat-schedule")),
        ]

    def environment(self) -> dict[str, str]:
        return run_environment(self.overrides)

    def wait_ready(self, timeout: float) -> None:
        wait_for(
            lambda: "beat: Starting..." in self.output_since_start(),
            f"{self.name} to start",
            self,
            timeout=timeout,
            interval=0.1,
        )


def _test_settings():
    from django.conf import settings

    return settings


def _reset_celery_connections(celery_app) -> None:
    """Forget the app's cached result backend and producer pool (broker URL changed)."""
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)
    # Pools are looked up again by broker URL (kombu keeps one per connection URL).
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


# ----------------------------------------------------------------------------- redis


class PrivateRedis(ManagedProcess):
    """A ``redis-server`` of the test's own on a free port, which a test may stop and start
    again (same port, same data with ``persist``) to simulate an outage."""

    name = "redis"

    def __init__(self, workdir: Path | None = None, persist: bool = True) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.persist = persist

    def command(self) -> list[str]:
        return [
            *(shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1"),
            *("--port", str(self.port), "--dir", str(self.workdir), "--save", ""),
            *("--appendonly", "yes" if self.persist else "no", "--appendfsync", "always"),
            *("--daemonize", "no", "--protected-mode", "no"),
        ]

    def wait_ready(self, timeout: float) -> None:
        wait_for(self.ping, f"{self.name} to answer PING", self, timeout=timeout)

    def ping(self) -> bool:
        import redis

        try:
            return self.client().ping()
        except redis.RedisError:
            return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0):
        """A client that fails at once when the server is down (redis-py retries 3 times
        with backoff by default: seconds per call)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(self.url(db), socket_timeout=2, retry=Retry(NoBackoff(), 0))

    def env(self) -> dict[str, str]:
        """Overrides that put cache, throttles, broker and channel layer on this server."""
        return {
            "REDIS_URL": self.url(0),
            "TEST_REDIS_URL": self.url(0),
            "TEST_CELERY_BROKER_URL": self.url(1),
            "TEST_CHANNEL_REDIS_URL": self.url(2),
        }

    def stop(self, timeout: float = 20) -> None:
        super().stop(timeout)
        wait_for(lambda: not port_open(self.port), f"{self.name} to close its port", timeout=10)


# ----------------------------------------------------------------------------- postgres


def postgres_bin(program: str) -> str:
    """``program`` of the newest PostgreSQL installed under /usr/lib/postgresql."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{program}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which(program)
    if on_path:
        return on_path
    raise FileNotFoundError(f"{program} not found: install the PostgreSQL server package")


class PrivatePostgres(_StartedInWith):
    """A throwaway PostgreSQL cluster (``initdb`` in a temporary directory, ``pg_ctl`` on a
    free port) that a test may stop, start and restart; removed at ``cleanup()``.

    initdb refuses to run as root, so as root (CI) the cluster belongs to the ``postgres``
    OS user. The shared cluster on 5432 is never touched.
    """

    name = "postgres"

    def __init__(self, user: str = "postgres") -> None:
        self.port = free_port()
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="atrium-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.os_user = "postgres" if os.geteuid() == 0 else None
        if self.os_user:
            try:
                shutil.chown(self.root, user=self.os_user, group=self.os_user)
            except LookupError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise RuntimeError(
                    "initdb refuses to run as root and there is no 'postgres' OS user to run it"
                    " as: install the PostgreSQL server package (it creates the user)."
                ) from None
        self.initialised = False

    def _run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.os_user, "--"] if self.os_user else []
        result = subprocess.run(
            [*prefix, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}"
                f"{result.stderr}\n{self.logs()}"
            )
        return result

    def start(self, timeout: float = 60) -> PrivatePostgres:
        _alive.add(self)
        if not self.initialised:
            self._run(
                postgres_bin("initdb"),
                *("-D", str(self.data), "-U", self.user, "--auth=trust"),
                *("--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
            )
            self.initialised = True
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        self._run(
            postgres_bin("pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-o", options),
            *("-w", "-t", str(int(timeout)), "start"),
            timeout=timeout + 10,
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast``: disconnect clients and shut down cleanly; ``immediate``: a crash."""
        if self.running():
            self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pid_file.read_text().split()[0]), 0)
            return True
        return False

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def env(self, dbname: str) -> dict[str, str]:
        """Overrides that put a process on database ``dbname`` of this cluster."""
        return {"DATABASE_URL": self.url(dbname)}

    def cleanup(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        if self.running():  # pg_ctl failed: end the postmaster ourselves
            with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
        _alive.discard(self)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def logs(self, lines: int = 80) -> str:
        return f"--- {self.name} log ({self.log}) ---\n{self.log_tail(lines)}"


# ----------------------------------------------------------------------------- S3


class S3Server(ManagedProcess):
    """moto's S3-compatible server (``moto_server``, a dev dependency) on a free port: the
    real HTTP API that ``ATRIUM_STORAGE=s3`` talks to (MinIO in docker-compose.yml)."""

    name = "moto-server"
    region = "us-east-1"
    # moto accepts any key; real ones are never needed (nor looked for) here.
    access_key = "atrium-test"
    secret_key = "atrium-test-secret"

    def __init__(self, workdir: Path | None = None) -> None:
        super().__init__(workdir)
        self.port = free_port()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def wait_ready(self, timeout: float) -> None:
        def answers() -> bool:
            try:
                return requests.get(f"{self.endpoint_url}/", timeout=1).status_code < 500
            except requests.RequestException:
                return False

        wait_for(answers, f"{self.name} to answer", self, timeout=timeout, interval=0.1)

    def env(self, bucket: str) -> dict[str, str]:
        """The variables that put a process's files in ``bucket`` on this server, exactly as
        docker-compose.yml puts them in MinIO."""
        return {
            "ATRIUM_STORAGE": "s3",
            "ATRIUM_S3_BUCKET": bucket,
            "ATRIUM_S3_ENDPOINT_URL": self.endpoint_url,
            "ATRIUM_S3_REGION": self.region,
            "ATRIUM_S3_ACCESS_KEY_ID": self.access_key,
            "ATRIUM_S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self) -> str:
        bucket = f"atrium-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``, straight from the server (not through Django)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def drop_bucket(self, bucket: str) -> None:
        client = self.client()
        for key in self.keys(bucket):
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
