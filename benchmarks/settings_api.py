"""Settings of the API benchmark's server (``benchmarks/api.py``); never used elsewhere.

The application's own settings (``config.settings.base``), with these changes:

* ``DEBUG`` off and logging at WARNING, as in production (``DEBUG`` records every query).
* Rate limits so high that no request of a load test is refused. The throttles stay on: every
  request of the full path still runs the GCRA script on Redis, which does the same work
  whatever the numbers are; only the answer is always "allowed".
* ``TenantRoutingMiddleware`` is wrapped by ``benchmarks.api_bare.BenchRoutingMiddleware``,
  which hands every request to it unchanged, except those under ``/bench/bare/``: these skip
  tenant routing and are resolved against the bare urlconf (``benchmarks.api_bare``).
* A second database alias, ``bare``, for the bare path only: the same database through
  Django's own PostgreSQL backend, with the bench tenant's schema as the connection's
  ``search_path`` from its start-up packet (``ATRIUM_BENCH_SCHEMA``), the way a
  single-tenant application is set up: no django-tenants backend, no ``SET search_path``.
  The bare path's user comes from ``ATRIUM_BENCH_USER_ID``.

Everything else (the other middleware, the urlconf of tenant hosts, the database and Redis
settings from the environment) is what the application runs with.
"""

import copy
import os

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_PLANS, DATABASES, LOGGING, MIDDLEWARE

DEBUG = False
LOGGING["root"]["level"] = "WARNING"

# 10^9 requests per window: GCRA's arithmetic is the same as for 30/10s, nothing is refused.
ATRIUM_RATE_LIMITS = {
    plan: {"burst": "1000000000/10s", "sustained": "1000000000/h"} for plan in ATRIUM_PLANS
}

_ROUTING = "atrium.tenants.routing.TenantRoutingMiddleware"
if _ROUTING not in MIDDLEWARE:
    raise RuntimeError(f"{_ROUTING} is not in MIDDLEWARE: the API benchmark needs updating.")
MIDDLEWARE = [
    "benchmarks.api_bare.BenchRoutingMiddleware" if entry == _ROUTING else entry
    for entry in MIDDLEWARE
]


ATRIUM_BENCH_SCHEMA = os.environ.get("ATRIUM_BENCH_SCHEMA", "")
ATRIUM_BENCH_USER_ID = os.environ.get("ATRIUM_BENCH_USER_ID", "")
if ATRIUM_BENCH_SCHEMA:
    DATABASES["bare"] = copy.deepcopy(DATABASES["default"])
    DATABASES["bare"]["ENGINE"] = "django.db.backends.postgresql"
    DATABASES["bare"]["OPTIONS"]["options"] = f"-c search_path={ATRIUM_BENCH_SCHEMA},public"
