"""Settings shared by every environment; anything machine-specific comes from the environment."""

import os
from pathlib import Path

import dj_database_url

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
ATRIUM_DEFAULT_PLAN = "free"
ATRIUM_PLANS = ["free", "pro", "enterprise"]
# How long the in-process host directory trusts itself when Redis cannot be asked.
ATRIUM_ROUTING_FALLBACK_TTL = float(env("ATRIUM_ROUTING_FALLBACK_TTL", "5"))
ATRIUM_ROUTING_LOCAL_MAX_HOSTS = env_int("ATRIUM_ROUTING_LOCAL_MAX_HOSTS", 50_000)

SHARED_APPS = [
    "django_tenants",
    "atrium.tenants",
    "atrium.platform.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
]
# Everything of a tenant lives in its schema, its users included.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "atrium.platform.accounts",
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
    "atrium.tenants.routing.TenantRoutingMiddleware",
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
        "DIRS": [],
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
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 3)

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        # Every cache key goes through the tenant key space (t:<schema>:cache:…).
        "KEY_FUNCTION": "atrium.tenants.keyspace.cache_key",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 1,
            # A cache outage degrades to misses instead of failing requests.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True

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
STATIC_ROOT = BASE_DIR / "staticfiles"
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
    "loggers": {"django_redis": {"level": "WARNING"}},
}

# User.email is unique case-insensitively through a Lower(email) constraint, which the
# auth check does not recognise as making USERNAME_FIELD unique.
SILENCED_SYSTEM_CHECKS = ["auth.E003"]
