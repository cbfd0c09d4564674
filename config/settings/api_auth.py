"""The API and authentication: users, DRF, JWT, request limits, CORS, OpenAPI."""

from datetime import timedelta

from .core import ATRIUM_PLANS, env_bool, env_int

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
