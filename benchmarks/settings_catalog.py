"""Settings of the catalog benchmark's server (``benchmarks/catalog.py``); never used elsewhere.

The application's own settings (``config.settings.base``), with two changes (its database
connections come from the pool unless ``--no-db-pool`` sets ``DB_POOL=0``):

* ``DEBUG`` off and logging at WARNING, as in production (``DEBUG`` records every query).
* Rate limits so high that no request of a load test is refused. The throttles stay on: every
  request still runs the GCRA script on Redis, which does the same work whatever the numbers
  are; only the answer is always "allowed".

Unlike ``benchmarks/settings_api.py`` nothing else changes: no bench routing middleware, no
extra database alias. The database and Redis DB come from the environment, which
``benchmarks/catalog.py`` points at the bench ones.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_PLANS, LOGGING

DEBUG = False
LOGGING["root"]["level"] = "WARNING"

# 10^9 requests per window: GCRA's arithmetic is the same as for 30/10s, nothing is refused.
ATRIUM_RATE_LIMITS = {
    plan: {"burst": "1000000000/10s", "sustained": "1000000000/h"} for plan in ATRIUM_PLANS
}
