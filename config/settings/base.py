"""Settings shared by every environment; anything machine-specific comes from the environment."""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


SECRET_KEY = env("SECRET_KEY", "dev-insecure-secret-key-change-me")
DEBUG = env_bool("DEBUG", False)

# Hosts are validated by the tenant router against the domain table, which is the only
# list that knows every tenant's custom domains; Django still rejects malformed hosts.
ALLOWED_HOSTS = ["*"]

ATRIUM_BASE_DOMAIN = env("ATRIUM_BASE_DOMAIN", "localhost").strip().lower().rstrip(".")
# Hosts that serve the platform (public) urlconf in addition to the base domain.
ATRIUM_PUBLIC_HOSTS = [
    host.strip().lower()
    for host in env("ATRIUM_PUBLIC_HOSTS", f"www.{ATRIUM_BASE_DOMAIN}").split(",")
    if host.strip()
]
# How tenant URLs are printed (CLI, demo): scheme and port of the public entry point.
ATRIUM_SITE_SCHEME = env("ATRIUM_SITE_SCHEME", "http")
ATRIUM_SITE_PORT = env("ATRIUM_SITE_PORT", "8000")
ATRIUM_TEMPLATE_SCHEMA = "_template"
ATRIUM_SPARE_SCHEMA_PREFIX = "_spare_"
ATRIUM_SPARE_POOL_SIZE = env_int("ATRIUM_SPARE_POOL_SIZE", 3)
# `tenants migrate`: every statement waits at most this long (seconds) for a lock, so a
# busy table never stalls the run or the requests queued behind it; a schema whose lock
# times out is retried this many times with backoff, then reported as failed.
ATRIUM_MIGRATE_LOCK_TIMEOUT = float(env("ATRIUM_MIGRATE_LOCK_TIMEOUT", "2"))
ATRIUM_MIGRATE_LOCK_RETRIES = env_int("ATRIUM_MIGRATE_LOCK_RETRIES", 4)
# Plans: name -> the limits of a tenant on it (API requests per user, or per client IP when
# anonymous: a short burst window and a sustained one; None: no limit). A tenant's plan is
# always one of these: it is the Tenant.plan field's choices, and the CLI, the platform
# admin and every service refuse any other. Checked when Django starts (atrium.tenants.plans).
ATRIUM_PLANS = {
    "free": {"burst": "30/10s", "sustained": "600/h"},
    "pro": {"burst": "100/10s", "sustained": "6000/h"},
    "enterprise": {"burst": "300/10s", "sustained": "60000/h"},
}
ATRIUM_DEFAULT_PLAN = "free"
# How long the in-process host directory trusts itself when Redis cannot be asked.
ATRIUM_ROUTING_FALLBACK_TTL = float(env("ATRIUM_ROUTING_FALLBACK_TTL", "5"))
ATRIUM_ROUTING_LOCAL_MAX_HOSTS = env_int("ATRIUM_ROUTING_LOCAL_MAX_HOSTS", 50_000)
# The longest any copy of the host directory (a process's, the shared Redis hash) is
# trusted after it was read from the database: the bound on how long a tenant change whose
# invalidation was lost (made while Redis was away) can go unseen.
ATRIUM_ROUTING_MAX_AGE = float(env("ATRIUM_ROUTING_MAX_AGE", "30"))
# How long a Celery worker trusts its copy of the tenant directory before it asks Redis
# whether it changed (HTTP asks on every request).
ATRIUM_TASK_TENANT_RECHECK_SECONDS = float(env("ATRIUM_TASK_TENANT_RECHECK_SECONDS", "1"))

SHARED_APPS = [
    # Before django_tenants: its management commands (create_tenant, migrate_schemas,
    # migrate, …) would bypass Atrium; ours of the same names refuse or go through it.
    "atrium.tenants",
    "django_tenants",
    "atrium.platform.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "corsheaders",
]
# Everything of a tenant lives in its schema, its users included.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "atrium.platform.accounts",
    "rest_framework_simplejwt.token_blacklist",
    "atrium.platform.jobs",
    "atrium.apps.catalog",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# The search_path is set once per connection and tenant switch, not before every cursor.
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    # A request Django refuses to read (too many query parameters, too big) is a 400/413
    # in the one error shape before anything else reads it, in every setting.
    "atrium.platform.api.middleware.MalformedRequestMiddleware",
    # Static files (admin, Swagger UI assets) are the same for every host: served first.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "atrium.tenants.routing.TenantRoutingMiddleware",
    # After routing (it reads the tenant's allowed origins), before anything that answers.
    "corsheaders.middleware.CorsMiddleware",
    "atrium.platform.api.throttling.RateLimitHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Templates of the platform that belong to no app (atrium/platform/templates/atrium/redoc.html).
        "DIRS": [BASE_DIR / "atrium" / "platform" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
# atrium/tenants/database.py: a transaction-mode pooler (PgBouncer) is refused at the first
# connection of each process; a pooled connection is retired after DB_POOL_MAX_USES borrows,
# which bounds its backend's catalog cache (~0.2 MiB per tenant schema served; 0: never).
ATRIUM_DB_POOLER_CHECK = env_bool("DB_POOLER_CHECK", True)
# Seconds /readyz waits for PostgreSQL before it reports it unavailable (its own budget:
# a request waits up to DB_POOL_TIMEOUT for a connection).
ATRIUM_READYZ_DB_TIMEOUT = float(env("ATRIUM_READYZ_DB_TIMEOUT", "1"))
ATRIUM_DB_POOL_MAX_USES = env_int("DB_POOL_MAX_USES", 200)

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_db_url(url: str, db: int) -> str:
    """The Redis server of ``url`` with another database index."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # Every cache key goes through the tenant key space (t:<schema>:cache:…).
        "KEY_FUNCTION": "atrium.tenants.keyspace.cache_key",
        "OPTIONS": {
            # clear() empties the active tenant's cache only, not the shared database.
            "CLIENT_CLASS": "atrium.tenants.keyspace.TenantCacheClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # A cache outage degrades to misses instead of failing requests.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
# Seconds a cached API response lives (atrium/platform/cache.py). Also the longest a cached
# response can stay stale after a write whose invalidation Redis missed and whose process
# died before it could apply it; lower it to tighten that bound.
ATRIUM_RESPONSE_CACHE_TTL = env_int("ATRIUM_RESPONSE_CACHE_TTL", 60)

# ---------------------------------------------------------------------------- Celery
# Background work (atrium/platform/tasks.py): the sender's tenant travels with each task.
# The broker (and the result backend) use a Redis database of their own (index 1 of
# REDIS_URL's server): Celery's keys cannot carry a tenant prefix, so they stay out of the
# tenant key space, where every key is t:<schema>:… or p:… (atrium/tenants/keyspace.py).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", redis_db_url(REDIS_URL, 1))
# Tasks report through the database, job progress in Redis and events, not results. Only
# Chords need a result backend for their join; results are kept only by tasks that ask
# (CELERY_TASK_IGNORE_RESULT below) and expire after a day.
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", CELERY_BROKER_URL) or None
CELERY_RESULT_EXPIRES = env_int("CELERY_RESULT_EXPIRES", 86400)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redis hands a message to another worker when it is not acknowledged within the visibility
# timeout; tasks declared idempotent acknowledge after their run, so no run may last that
# long: the hard time limit stays below it (and below the idempotency lease, one hour).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
# One message per worker process at a time: a process that dies holds no queue of others.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
# Celery's Django fixup closes every connection (and, with a pool, the pool) around every
# task unless this is set; our task signals recycle connections per task instead, as Django
# does per request (atrium.platform.tasks). The fixup still closes them every N tasks.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
# Beat only remembers when each entry last ran; losing the file just means "run when due".
CELERY_BEAT_SCHEDULE_FILENAME = env(
    "CELERY_BEAT_SCHEDULE_FILENAME",
    os.path.join(os.environ.get("TMPDIR", "/tmp"), "atrium-celerybeat-schedule"),
)
# Periodic work of every tenant: a @tenant_task name -> its schedule. Beat sends
# platform.run_for_active_tenants(name), which sends the task once in the scope of each
# active tenant (not provisioning, suspended or archived ones).
ATRIUM_TENANT_PERIODIC_TASKS = {
    "accounts.flush_expired_tokens": crontab(hour=3, minute=17),
    "catalog.purge_deleted": crontab(hour=3, minute=37),
    "catalog.recompute_stats": crontab(hour=4, minute=7),
}
CELERY_BEAT_SCHEDULE = {
    "tenants.pool_refill": {
        "task": "tenants.pool_refill",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 5 * 60},
    },
    **{
        f"{name} for every active tenant": {
            "task": "platform.run_for_active_tenants",
            "schedule": schedule,
            "args": (name,),
            # A fan-out that waited an hour in the queue (workers down) is dropped, not
            # run late on top of the next one.
            "options": {"expires": 60 * 60},
        }
        for name, schedule in ATRIUM_TENANT_PERIODIC_TASKS.items()
    },
}
# ---------------------------------------------------------------------------- end Celery

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # Only for secrets the platform generates itself (see the hasher's docstring).
    "atrium.platform.accounts.hashers.GeneratedSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only production collects static files (the image runs collectstatic); elsewhere WhiteNoise
# serves them from the apps' folders.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
# Without collectstatic (development, tests), serve straight from the apps' static folders.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Host-only cookies: a session of one tenant is never sent to another tenant's host.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_redis": {"level": "WARNING"},
        # Django's default config gives "django" a console handler of its own (DEBUG only)
        # and lets it propagate too, so every django.request warning came out twice.
        "django": {"handlers": [], "propagate": True},
    },
}

# ---------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "atrium.platform.accounts.authentication.TenantJWTAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "atrium.platform.api.throttling.BurstRateThrottle",
        "atrium.platform.api.throttling.SustainedRateThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "atrium.platform.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "atrium.platform.api.filters.StrictOrderingFilter",
    ],
    "SEARCH_PARAM": "q",
    "ORDERING_PARAM": "ordering",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only (415 otherwise); the one upload, the catalog import, declares its
    # multipart parser itself. A default multipart parser read a malformed form as no change.
    # Our JSONParser bounds the body's size and nesting depth before decoding it.
    "DEFAULT_PARSER_CLASSES": ["atrium.platform.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "atrium.platform.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
# Query parameters (and form fields) per request; more is a 400 `too_many_fields`.
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)
# Levels a JSON body may nest (arrays and objects); deeper is a 400 `json_too_deep`,
# refused before it is decoded. The API's own bodies nest two levels.
ATRIUM_JSON_MAX_DEPTH = env_int("ATRIUM_JSON_MAX_DEPTH", 32)
# An API answer whose code is not in the registry of error codes (atrium/tenants/codes.py)
# is logged; with this on (the test settings) it is an error.
ATRIUM_ERROR_CODES_STRICT = env_bool("ATRIUM_ERROR_CODES_STRICT", False)

DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    # Domain errors of services become API errors in the same shape.
    "EXCEPTION_HANDLER_CLASS": "atrium.platform.api.errors.AtriumExceptionHandler",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_TOKEN_CLASSES": ("atrium.platform.accounts.tokens.TenantAccessToken",),
}
# Catalog jobs and maintenance.
ATRIUM_IMPORT_MAX_BYTES = env_int("ATRIUM_IMPORT_MAX_BYTES", 5 * 1024 * 1024)
# The largest request body of any kind (the import's CSV plus its multipart framing):
# refused by Content-Length before it is read, and cut off while it streams in
# (atrium/platform/uploads.py), with 413 request_too_large.
ATRIUM_REQUEST_MAX_BYTES = env_int("ATRIUM_REQUEST_MAX_BYTES", ATRIUM_IMPORT_MAX_BYTES + 64 * 1024)
FILE_UPLOAD_HANDLERS = [
    "atrium.platform.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
ATRIUM_IMPORT_LOCK_SECONDS = env_int("ATRIUM_IMPORT_LOCK_SECONDS", 600)
ATRIUM_SOFT_DELETE_RETENTION_DAYS = env_int("ATRIUM_SOFT_DELETE_RETENTION_DAYS", 30)

# The JWT claim that binds a token to the tenant it was minted on.
ATRIUM_JWT_TENANT_CLAIM = "tid"
# The JWT claim that carries the user's token version: a token whose version is not the
# user's current one is refused (logout, deactivation, password or role change raise it).
ATRIUM_JWT_VERSION_CLAIM = "ver"

# The request limits the API applies, by plan: the plans' own (ATRIUM_PLANS). A separate
# name so that tests and benchmarks can swap the limits without changing which plans exist.
# Login has its own limits, per tenant + e-mail and per IP.
ATRIUM_RATE_LIMITS = ATRIUM_PLANS
ATRIUM_LOGIN_RATE_LIMITS = {"per_email": "5/min", "per_ip": "20/min"}
# Reverse proxies in front of the app that append to X-Forwarded-For; the client address is
# the entry the outermost one added. 0: the header is ignored (anyone can forge it).
ATRIUM_TRUSTED_PROXY_COUNT = env_int("ATRIUM_TRUSTED_PROXY_COUNT", 0)

# CORS (atrium/tenants/cors.py): no origin is allowed globally; each tenant lists its own
# (`tenants cors add`, or its admin). Preflights under the API are answered before
# authentication; CORS headers go only to an allowed origin. Tokens travel in the
# Authorization header, so cookies are never allowed cross-origin.
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOWED_ORIGINS: list[str] = []
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = [
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Content-Disposition",
]
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 600)

SPECTACULAR_SETTINGS = {
    "TITLE": "Atrium tenant API",
    "DESCRIPTION": (
        "The API of one tenant, served on the tenant's own host. Every token belongs to the "
        "tenant it was issued on and is refused everywhere else."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The docs work offline: ReDoc's default fonts (Roboto, Montserrat) are web fonts, so
    # it uses the system's fonts instead (atrium/platform/templates/atrium/redoc.html).
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif"},
                "code": {"fontFamily": "ui-monospace, 'DejaVu Sans Mono', monospace"},
            }
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ProductStatusEnum": "atrium.apps.catalog.models.ProductStatus",
        "HealthStatusEnum": ["ok", "unavailable"],
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
    ],
}

# ---------------------------------------------------------------------------- WebSockets


# The channel layer has a Redis database of its own (index 2 of REDIS_URL's server), so
# its traffic never mixes with cache keys or the Celery broker.
CHANNEL_REDIS_URL = env("CHANNEL_REDIS_URL", redis_db_url(REDIS_URL, 2))
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "atrium.platform.realtime.layers.FanoutRedisChannelLayer",
        "CONFIG": {
            # A dead Redis fails a publish in seconds instead of hanging the request.
            # The read timeout must exceed channels-redis' 5 s blocking receive, or an idle
            # process drops its sockets; the pool must hold a reconnect storm.
            "hosts": [
                {
                    "address": CHANNEL_REDIS_URL,
                    "socket_connect_timeout": 2,
                    "socket_timeout": 10,
                    "max_connections": 1000,
                }
            ],
            # Channel-layer keys are shared infrastructure: one queue per process carries
            # the messages of every tenant, so they cannot start with a tenant. They are
            # platform keys (p:); the tenant is in every group name (t.<schema>.…).
            "prefix": "p:asgi",
            # Messages queued for one server process before new ones are dropped. Every
            # socket of a process shares that process's one queue (channels-redis keys
            # process-local channels by process), so this is not per socket: at 100, a
            # busy server dropped a quarter of its sockets' events under the load of
            # benchmarks/load.py (50 clients, ~30 writes/s). Expiry bounds what waits.
            "capacity": 5000,
            # Seconds an undelivered message is kept.
            "expiry": 60,
            # Seconds a socket stays in a group. A socket is closed when its access token
            # expires (JWT_ACCESS_MINUTES), before this; a membership whose leave failed
            # (Redis away at disconnect) stops costing every group send after an hour.
            "group_expiry": env_int("CHANNEL_GROUP_EXPIRY", 3600),
        },
    }
}
# Browser origins allowed to open a WebSocket, comma-separated, as Channels'
# OriginValidator reads them ("https://app.example.com", "https://.example.com" for every
# subdomain). Empty: no check (tokens, not cookies, authenticate a socket).
ALLOWED_ORIGINS = [
    origin.strip() for origin in env("ALLOWED_ORIGINS", "").split(",") if origin.strip()
]
# Larger client frames close the socket with 1009 (clients only send pings).
ATRIUM_WS_MAX_MESSAGE_BYTES = env_int("ATRIUM_WS_MAX_MESSAGE_BYTES", 64 * 1024)
# Open sockets one user may hold at once (every server process together); one more is
# closed with 4429 "too_many_sockets". 0: no cap. Each socket holds a lease in Redis,
# renewed every third of ATRIUM_WS_SOCKET_LEASE_SECONDS, so the slots of a crashed server
# process come free within that many seconds.
ATRIUM_WS_MAX_SOCKETS_PER_USER = env_int("ATRIUM_WS_MAX_SOCKETS_PER_USER", 20)
ATRIUM_WS_SOCKET_LEASE_SECONDS = env_int("ATRIUM_WS_SOCKET_LEASE_SECONDS", 60)
# Seconds a publish may wait for the channel layer before the event is dropped (logged).
ATRIUM_REALTIME_PUBLISH_TIMEOUT = float(env("ATRIUM_REALTIME_PUBLISH_TIMEOUT", "2"))
