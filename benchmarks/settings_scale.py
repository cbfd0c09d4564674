"""Settings of the scale benchmark (``benchmarks/scale.py``): ``settings_catalog`` with login
limits that refuse nothing, the generated owners' passwords kept as they are at first login
(below), the catalog's migrations from ``ATRIUM_BENCH_CATALOG_MIGRATIONS`` when set (a copy
plus one new migration, in a temporary folder: never in the repository), and
``TENANT_MULTIPROCESSING_MAX_PROCESSES`` for django-tenants' executor.
"""

import os

from benchmarks.settings_catalog import *  # noqa: F403
from config.settings.base import env_int

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

if os.environ.get("ATRIUM_BENCH_CATALOG_MIGRATIONS"):
    MIGRATION_MODULES = {"catalog": os.environ["ATRIUM_BENCH_CATALOG_MIGRATIONS"]}

TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("TENANT_MULTIPROCESSING_MAX_PROCESSES", 2)
