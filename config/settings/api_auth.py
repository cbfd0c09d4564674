"""The API and authentication: users, DRF, JWT, request limits, CORS, OpenAPI."""

from datetime import timedelta

from corsheaders.defaults import default_headers

from atrium.conf import env_int

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

# The API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "atrium.platform.accounts.authentication.TenantJWTAuthentication",
        "atrium.platform.apikeys.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "atrium.platform.api.throttling.BurstRateThrottle",
        "atrium.platform.api.throttling.SustainedRateThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "atrium.platform.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "atrium.platform.api.filters.FilterBackend",
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
    "UPDATE_LAST_LOGIN": True,  # API logins set last_login
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_TOKEN_CLASSES": ("atrium.platform.accounts.tokens.TenantAccessToken",),
}
# Bodies past ATRIUM_REQUEST_MAX_BYTES are refused (atrium/platform/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "atrium.platform.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]


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
    "X-Request-ID",  # to quote in a support request (atrium/platform/observability)
]
# A browser app may send its own request id, which the server keeps and logs.
CORS_ALLOW_HEADERS = (*default_headers, "x-request-id")
CORS_PREFLIGHT_MAX_AGE = env_int("CORS_PREFLIGHT_MAX_AGE", 600)

SPECTACULAR_SETTINGS = {
    "TITLE": "Atrium tenant API",
    "DESCRIPTION": (
        "The API of one tenant, served on the tenant's own host. Every token belongs to the "
        "tenant it was issued on and is refused everywhere else.\n\n"
        "Events (the WebSocket `/ws/events/` and the signed webhooks) are described by the "
        "AsyncAPI 3.0 document at [/api/asyncapi/](/api/asyncapi/) on the tenant's host."
    ),
    "EXTERNAL_DOCS": {
        "description": "Events: AsyncAPI 3.0 document (WebSocket and webhooks)",
        "url": "/api/asyncapi/",
    },
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
    "GET_LIB_DOC_EXCLUDES": "atrium.platform.api.schema.doc_excludes",
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
