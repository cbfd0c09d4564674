"""Production: refuses to start with a development secret or with DEBUG on."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SECRET_KEY, STORAGES, env, env_bool
from .observability import logging_config

DEBUG = env_bool("DEBUG", False)
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production: unset DEBUG or set DEBUG=0.")
if not SECRET_KEY or SECRET_KEY.startswith("dev-") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a real secret of at least 50 characters in production "
        '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))").'
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
STATIC_ROOT = env("STATIC_ROOT", "/app/staticfiles")
WHITENOISE_USE_FINDERS = False  # the image runs collectstatic
# Files stay where ATRIUM_STORAGE says (config/settings/storage.py).
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# One JSON object per log line, for the log shipper.
LOG_FORMAT = env("LOG_FORMAT", "json")
LOGGING = logging_config(LOG_FORMAT)
ATRIUM_SITE_SCHEME = env("ATRIUM_SITE_SCHEME", "https")
ATRIUM_SITE_PORT = env("ATRIUM_SITE_PORT", "")
# Webhook endpoints must be https in production (atrium/platform/webhooks/urls_guard.py).
ATRIUM_WEBHOOK_REQUIRE_HTTPS = env_bool("ATRIUM_WEBHOOK_REQUIRE_HTTPS", True)
