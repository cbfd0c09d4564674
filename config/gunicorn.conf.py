"""Gunicorn settings of every entry point (``scripts/run.sh``, the Dockerfile, compose, the
tests' driver and the benchmarks): ``gunicorn -c config/gunicorn.conf.py``.

HTTP is served by WSGI workers because Django under ASGI costs about twice the CPU per
request (benchmarks/README.md); WebSockets go to uvicorn (``config.asgi``) behind the same
HAProxy origin (``deploy/haproxy.cfg``). Everything that differs between machines comes
from the environment, with the defaults below.
"""

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "config.wsgi:application"
bind = [os.environ.get("ATRIUM_HTTP_BIND", "0.0.0.0:8000")]

# One process per core by default.
workers = _int("WEB_CONCURRENCY", os.cpu_count() or 1)
# sync: on a quiet machine (benchmarks/results/serving.md), 2 sync workers served the
# uncached list at 1.56x the req/s of 2 gthread workers (4 threads), at 0.6x the CPU per
# request (threads of one process contend for the GIL), and users/me/ level (0.96x).
# HAProxy in front reads each request before it reaches a worker (deploy/haproxy.cfg), so
# a slow client does not hold one. GUNICORN_WORKER_CLASS=gthread with GUNICORN_THREADS=N
# selects threads (gunicorn runs a sync worker with more than one thread as gthread);
# each thread may hold a pooled database connection, within DB_POOL_MAX_SIZE (20).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = _int("GUNICORN_THREADS", 1)

# Recycling: a worker exits after about this many requests (the jitter spreads the
# restarts so that the workers do not all restart at once); 0 turns it off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 10_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)

# Graceful shutdown (SIGTERM) and recycling: in-flight requests get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# A sync worker stuck this long on one request is killed and replaced.
timeout = _int("GUNICORN_TIMEOUT", 60)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

# Proxy headers: gunicorn trusts none (X-Forwarded-Proto and the like would otherwise be
# believed from loopback peers). The app alone reads X-Forwarded-For, for exactly
# ATRIUM_TRUSTED_PROXY_COUNT proxies (atrium/platform/api/throttling.py: client_ip).
forwarded_allow_ips = ""

# Apps load in each worker after the fork: database pools and Redis clients are never
# shared between processes.
preload_app = False
# No control socket: its default path is per user, so masters on one machine would share it.
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "atrium-web"
