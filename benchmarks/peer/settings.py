"""Settings of the peer: django-tenants (schema per tenant, ``TenantMainMiddleware``), DRF with
simplejwt, DRF's cache throttles on django-redis, and Django's connection pool (psycopg).
``PEER_DATABASE_URL`` and ``PEER_REDIS_URL`` come from the benchmark."""

import os
from datetime import timedelta
from urllib.parse import urlsplit

_db = urlsplit(os.environ.get("PEER_DATABASE_URL", "postgres://postgres@127.0.0.1/bench_peer"))
SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "peer-benchmark-only")
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

SHARED_APPS = [
    "django_tenants",
    "benchmarks.peer.customers",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.postgres",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "benchmarks.peer.shop",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]
TENANT_MODEL = "customers.Client"
TENANT_DOMAIN_MODEL = "customers.Domain"
AUTH_USER_MODEL = "shop.User"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
DATABASES = {
    "default": {
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": _db.port or 5432,
        "OPTIONS": {"pool": {"min_size": 1, "max_size": 4}},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/9"),
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}
MIDDLEWARE = [
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "benchmarks.peer.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # As the benchmark's Atrium: limits nothing reaches, the throttles still run.
    "DEFAULT_THROTTLE_RATES": {"anon": "1000000000/hour", "user": "1000000000/hour"},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "benchmarks.peer.shop.pagination.Pagination",
    "PAGE_SIZE": 20,
}
SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(hours=4)}
