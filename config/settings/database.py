"""PostgreSQL: the connection, psycopg's pool per process, and the pooler check."""

import dj_database_url

from atrium.conf import env, env_bool, env_int

DATABASE_URL = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/atrium")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        # Under ASGI every request runs in a thread of its own, so persistent connections
        # would pile up until PostgreSQL refuses new ones (measured by benchmarks/api.py):
        # connections are reused through the pool below instead.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
        # With the pool: checked when handed out (psycopg_pool's check_connection).
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 3)
# A statement waits at most this long (seconds) for a lock: a request that touches a table
# a migration is changing answers 503 with Retry-After (errors.DatabaseUnavailable) instead
# of queueing behind it without end. `tenants migrate` sets its own, shorter, per statement.
DB_LOCK_TIMEOUT = float(env("DB_LOCK_TIMEOUT", "10"))
if DB_LOCK_TIMEOUT > 0:
    DATABASES["default"]["OPTIONS"]["options"] = f"-c lock_timeout={int(DB_LOCK_TIMEOUT * 1000)}"
# psycopg's pool, one per process: a request or task borrows a connection and gives it back
# at its end, so no request pays for a new PostgreSQL backend (about 5 ms of server CPU).
# The schema is a session setting; django-tenants sets search_path again on every borrowed
# connection (its close() forgets the schema it set). max_lifetime recycles backends, whose
# catalog caches grow with every tenant schema they touch. DB_POOL=0 turns it off.
if env_bool("DB_POOL", True):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env_int("DB_POOL_MIN_SIZE", 1),
        "max_size": env_int("DB_POOL_MAX_SIZE", 20),
        # Seconds a request waits for a free connection (or for PostgreSQL to come back)
        # before it fails with 503 instead of hanging.
        "timeout": float(env("DB_POOL_TIMEOUT", "5")),
        "max_lifetime": float(env("DB_POOL_MAX_LIFETIME", "600")),
        "max_idle": float(env("DB_POOL_MAX_IDLE", "120")),
        # The pool reconnects with a delay that doubles on every failure for this long, and
        # then starts again at one second when a request needs a connection: without a
        # short bound (the default is 5 minutes), after an outage of N seconds the next
        # attempt could come about N seconds after PostgreSQL was back.
        "reconnect_timeout": float(env("DB_POOL_RECONNECT_TIMEOUT", "5")),
    }
