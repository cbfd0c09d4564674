"""Settings of the scale benchmark (``benchmarks/scale.py``); never used elsewhere.

The application's own settings (``config.settings.base``), with these changes:

* ``DEBUG`` off and logging at WARNING, as in production (``DEBUG`` records every query).
* Rate limits (API and login) so high that no request of the run is refused; the throttles
  still run their Redis script on every request.
* The owners' generated passwords are not re-hashed with PBKDF2 at their first login (see
  ``PASSWORD_HASHERS`` below).
* ``ATRIUM_BENCH_DB_POOL=1``: psycopg's connection pool as main's settings configure it
  (``DB_POOL_*``), unless the base settings already have one. The web server runs with it;
  the benchmark process itself without.
* ``ATRIUM_BENCH_CATALOG_MIGRATIONS=<module>``: the catalog app's migrations are read from
  that package instead of ``atrium/apps/catalog/migrations`` (the benchmark writes a copy
  of them plus one that adds a column to ``Product`` into a temporary folder). The new
  migration never enters the repository.
* ``TENANT_MULTIPROCESSING_MAX_PROCESSES`` from the environment, for django-tenants'
  multiprocessing executor in the comparison.
"""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_PLANS, DATABASES, LOGGING, env, env_bool, env_int

DEBUG = False
LOGGING["root"]["level"] = "WARNING"

ATRIUM_RATE_LIMITS = {
    plan: {"burst": "1000000000/10s", "sustained": "1000000000/h"} for plan in ATRIUM_PLANS
}
ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "1000000000/min", "per_ip": "1000000000/min"}
# The owners' passwords are the ones tenant_create() generates (192 random bits, stored with
# GeneratedSecretHasher). With PBKDF2 first, every first login re-hashes them with 1.2 M
# iterations (about a second of CPU here), and the run logs in to over a thousand tenants:
# that, not what is measured, would fill the run. The generated-secret hasher first keeps
# them as they are; PBKDF2 stays available.
PASSWORD_HASHERS = [
    "atrium.platform.accounts.hashers.GeneratedSecretHasher",
    *[h for h in PASSWORD_HASHERS if not h.endswith("GeneratedSecretHasher")],  # noqa: F405
]

if env_bool("ATRIUM_BENCH_DB_POOL", False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"].setdefault(
        "pool",
        {
            "min_size": env_int("DB_POOL_MIN_SIZE", 1),
            "max_size": env_int("DB_POOL_MAX_SIZE", 20),
            "timeout": float(env("DB_POOL_TIMEOUT", "5")),
            "max_lifetime": float(env("DB_POOL_MAX_LIFETIME", "600")),
            "max_idle": float(env("DB_POOL_MAX_IDLE", "120")),
        },
    )
elif "pool" in DATABASES["default"]["OPTIONS"]:
    del DATABASES["default"]["OPTIONS"]["pool"]

if os.environ.get("ATRIUM_BENCH_CATALOG_MIGRATIONS"):
    MIGRATION_MODULES = {"catalog": os.environ["ATRIUM_BENCH_CATALOG_MIGRATIONS"]}

TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("TENANT_MULTIPROCESSING_MAX_PROCESSES", 2)
