"""Settings of the servers the fuzz and load suites start: the test settings plus the
``fuzz`` plan, whose rate limits are high enough for a load generator (the throttles still
run on every request; only the fuzz tenants are on that plan)."""

from config.settings.test import *  # noqa: F403
from config.settings.test import ATRIUM_PLANS, ATRIUM_RATE_LIMITS

FUZZ_PLAN = "fuzz"
FUZZ_RATE_LIMITS = {"burst": "1000000/10s", "sustained": "100000000/h"}

ATRIUM_PLANS = {**ATRIUM_PLANS, FUZZ_PLAN: FUZZ_RATE_LIMITS}
ATRIUM_RATE_LIMITS = {**ATRIUM_RATE_LIMITS, FUZZ_PLAN: FUZZ_RATE_LIMITS}
