"""Django core: secrets, hosts, apps and tenancy, middleware, templates, static files."""

import os
from pathlib import Path

from atrium.conf import env, env_bool

BASE_DIR = Path(__file__).resolve().parent.parent.parent


SECRET_KEY = env("SECRET_KEY", "dev-insecure-secret-key-change-me")
DEBUG = env_bool("DEBUG", False)

# Hosts are validated by the tenant router against the domain table, which is the only
# list that knows every tenant's custom domains; Django still rejects malformed hosts.
ALLOWED_HOSTS = ["*"]

SHARED_APPS = [
    # Before django_tenants: its management commands (create_tenant, migrate_schemas,
    # migrate, …) would bypass Atrium; ours of the same names refuse or go through it.
    "atrium.tenants",
    "django_tenants",
    "atrium.platform.accounts",
    "atrium.platform.observability",
    # Pending sign-ups of the platform host: public schema only.
    "atrium.platform.signup",
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
    # Triggers declared in models' Meta (the audit logs' append-only triggers).
    "pgtrigger",
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
    "atrium.platform.invitations",
    "atrium.platform.audit",
    "atrium.platform.apikeys",
    "atrium.platform.privacy",
    "atrium.platform.mfa",
    "atrium.apps.catalog",
    "atrium.platform.webhooks",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]
# Installed for its abstract model and hasher only (atrium.platform.apikeys subclasses them):
# in neither list, so the router never creates its own, unused, APIKey table.
INSTALLED_APPS.append("rest_framework_api_key")

# Triggers are installed by their migrations (in every tenant schema), never by a
# post_migrate pass over all models (atrium/tenants/replay.py relies on it being off).
PGTRIGGER_INSTALL_ON_MIGRATE = False

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# The search_path is set once per connection and tenant switch, not before every cursor.
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

MIDDLEWARE = [
    # Outermost: the request id, log context, access line and metrics of every answer.
    "atrium.platform.observability.middleware.ObservabilityMiddleware",
    # A request Django refuses to read (too many query parameters, too big) is a 400/413
    # in the one error shape before anything else reads it, in every setting.
    "atrium.platform.api.middleware.MalformedRequestMiddleware",
    # Static files (admin, Swagger UI assets) are the same for every host: served first.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "atrium.tenants.routing.TenantRoutingMiddleware",
    # Counts the tenant's API requests for its usage (with the throttles' Redis call, or one
    # pipelined call of its own).
    "atrium.platform.api.metering.MeteringMiddleware",
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
