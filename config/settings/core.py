"""Django core: secrets, hosts, apps and tenancy, middleware, templates, static files."""

import os
from pathlib import Path

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
