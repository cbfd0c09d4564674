"""Settings of the benchmarks' servers (``catalog.py``; the base of ``settings_api`` and
``settings_scale``): the application's own (``config.settings.base``) with ``DEBUG`` off,
logging at WARNING, and rate limits so high that no request is refused. The throttles still
run their GCRA script on Redis for every request, which does the same work whatever the
numbers are; only the answer is always "allowed". Database and Redis come from the
environment, which each benchmark points at its own.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_PLANS, LOGGING

DEBUG = False
LOGGING["root"]["level"] = "WARNING"

ATRIUM_RATE_LIMITS = {
    plan: {"burst": "1000000000/10s", "sustained": "1000000000/h"} for plan in ATRIUM_PLANS
}
