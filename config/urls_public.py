"""URLs of the platform host (``<base domain>``): health, its API schema, operators' admin."""

from django.contrib import admin
from django.urls import include, path

from atrium.platform.accounts.throttling import limit_admin_login
from atrium.platform.api import urls as api_urls
from atrium.platform.health import healthz, readyz
from atrium.platform.observability.metrics import metrics_view

# The operators' admin signs in under the same limits as every tenant's admin and the API.
limit_admin_login(admin.site)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Prometheus, on the platform host only: a tenant host has no such URL (JSON 404).
    path("metrics", metrics_view, name="metrics"),
    # Self-service sign-up: on the platform host only (a 404 while ATRIUM_SIGNUP_ENABLED is off).
    path("api/v1/signup/", include("atrium.platform.signup.urls")),
    *api_urls.schema_urls("config.urls_public"),
    path("admin/", admin.site.urls),
    *api_urls.fallback_urls(),
]

handler400 = api_urls.bad_request
handler403 = api_urls.permission_denied
handler404 = api_urls.not_found
handler500 = api_urls.server_error
