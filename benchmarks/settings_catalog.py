"""Settings of the catalog benchmark's server (``benchmarks/catalog.py``); never used elsewhere.

The application's own settings (``config.settings.base``), with two changes (three with
``--db-pool``):

* ``DEBUG`` off and logging at WARNING, as in production (``DEBUG`` records every query).
* Rate limits so high that no request of a load test is refused. The throttles stay on: every
  request still runs the GCRA script on Redis, which does the same work whatever the numbers
  are; only the answer is always "allowed".
* Optionally (``ATRIUM_BENCH_DB_POOL=1``, ``benchmarks/catalog.py --db-pool``) Django's psycopg
  connection pool instead of a connection per request, as in ``benchmarks/settings_api.py``;
  it needs ``psycopg_pool``, which the application does not install.

Unlike ``benchmarks/settings_api.py`` nothing else changes: no bench routing middleware, no
extra database alias. The database and Redis DB come from the environment, which
``benchmarks/catalog.py`` points at the bench ones.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_PLANS, DATABASES, LOGGING, env_bool

DEBUG = False
LOGGING["root"]["level"] = "WARNING"

# 10^9 requests per window: GCRA's arithmetic is the same as for 30/10s, nothing is refused.
ATRIUM_RATE_LIMITS = {
    plan: {"burst": "1000000000/10s", "sustained": "1000000000/h"} for plan in ATRIUM_PLANS
}

if env_bool("ATRIUM_BENCH_DB_POOL", False):
    # Under ASGI every request runs in a thread of its own, so a pool is the only way to
    # reuse connections; Django refuses a pool together with persistent connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 4, "max_size": 32, "timeout": 10}
