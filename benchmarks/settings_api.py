"""Settings of the API benchmark's server (``benchmarks/api.py``): ``settings_catalog`` with
``TenantRoutingMiddleware`` wrapped by ``api_bare.BenchRoutingMiddleware`` (every request but
``/bench/bare/…`` goes to it unchanged) and, for the bare path only, a database alias ``bare``:
the same database through Django's own backend, the bench tenant's schema as ``search_path``
from the connection's start (``ATRIUM_BENCH_SCHEMA``), as a single-tenant app has it. The bare
path's user comes from ``ATRIUM_BENCH_USER_ID``.
"""

import copy
import os

from benchmarks.settings_catalog import *  # noqa: F403
from config.settings.base import DATABASES, MIDDLEWARE

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
