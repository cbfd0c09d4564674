"""The OpenAPI documentation of the users and auth APIs: summaries, examples and response
maps, one decorator per view, so that ``views.py`` and ``auth.py`` hold only what runs."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view

from atrium.platform.api.schema import AutoSchema, error_response

from .errors import INVALID_CREDENTIALS
from .serializers import (
    PasswordChangeSerializer,
    PasswordSetSerializer,
    ProfileUpdateSerializer,
    TokenPairSerializer,
    UserCreatedSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from .throttling import LoginUnavailable

# ------------------------------------------------------------------------ users API
USER_EXAMPLE = OpenApiExample(
    "A member",
    value={
        "id": "1b7e5d0e-3f43-4e55-9a49-8c4d7b1b6a11",
        "email": "dana@acme.test",
        "name": "Dana Scully",
        "role": "member",
        "is_active": True,
        "date_joined": "2026-11-24T10:00:00Z",
        "last_login": None,
    },
    response_only=True,
)


def user_viewset(viewset):
    return extend_schema_view(
        list=extend_schema(
            summary="List the tenant's users",
            description="Every user of this tenant. Filter by `role` and `is_active`, search "
            "with `q` (e-mail, name), order with `ordering`.",
            examples=[USER_EXAMPLE],
        ),
        retrieve=extend_schema(summary="Get one user", examples=[USER_EXAMPLE]),
        create=extend_schema(
            summary="Create or invite a user (owners and admins)",
            description="Without `password`, a one-time password is generated and returned "
            "once. Only owners may create owners.",
            request=UserCreateSerializer,
            responses={201: UserCreatedSerializer},
            examples=[
                OpenApiExample(
                    "Invite a member",
                    value={"email": "dana@acme.test", "name": "Dana Scully", "role": "member"},
                    request_only=True,
                )
            ],
        ),
        partial_update=extend_schema(
            summary="Change a user's name, role or access (owners and admins)",
            description="A tenant always keeps one active owner: demoting or deactivating the "
            "last one answers 409 `last_owner`. Only owners change the owner role. A change of "
            "role or a deactivation revokes the user's tokens at once (401 `token_revoked` / "
            "`user_inactive`) and closes its open sockets (4401).",
            request=UserUpdateSerializer,
            responses={200: UserSerializer},
            examples=[OpenApiExample("Promote", value={"role": "admin"}, request_only=True)],
        ),
        destroy=extend_schema(
            summary="Deactivate a user (owners and admins)",
            description="Users are never deleted: they are deactivated and can be "
            "re-activated. The user's tokens stop working at once and its open sockets are "
            "closed (4401).",
            responses={204: None},
        ),
        me=[
            extend_schema(
                summary="Update your own profile",
                methods=["PATCH"],
                request=ProfileUpdateSerializer,
                responses={200: UserSerializer},
                examples=[
                    OpenApiExample("Rename", value={"name": "Dana K. Scully"}, request_only=True)
                ],
            ),
            extend_schema(
                summary="The signed-in user",
                methods=["GET"],
                responses={200: UserSerializer},
                examples=[USER_EXAMPLE],
            ),
        ],
        me_password=extend_schema(
            summary="Change your own password",
            description="Needs the current password (400 `wrong_password` otherwise). Every "
            "token you hold stops working at once (401 `token_revoked`) and your open sockets "
            "are closed (4401 `password_changed`); the answer is a new token pair.",
            request=PasswordChangeSerializer,
            responses={200: TokenPairSerializer},
        ),
        password=extend_schema(
            summary="Set a user's password (owners and admins)",
            description="Every token of the user stops working at once (401 `token_revoked`) "
            "and its open sockets are closed (4401 `password_changed`).",
            request=PasswordSetSerializer,
            responses={204: None},
        ),
    )(extend_schema(tags=["users"])(viewset))


# ------------------------------------------------------------------------- auth API
# The 401/429/503 codes of each status come from the registry of error codes (errors.py).


def _error_example(name: str, status_code: int, code: str, detail: str) -> OpenApiExample:
    kind = "server_error" if status_code >= 500 else "client_error"
    return OpenApiExample(
        name,
        value={"type": kind, "errors": [{"code": code, "detail": detail, "attr": None}]},
        status_codes=[str(status_code)],
        response_only=True,
    )


EXAMPLE_ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJl"
EXAMPLE_REFRESH = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"
)
PAIR_EXAMPLE = OpenApiExample(
    "A new token pair",
    value={"access": EXAMPLE_ACCESS, "refresh": EXAMPLE_REFRESH},
    status_codes=["200"],
    response_only=True,
)
TOKEN_REFUSED_EXAMPLE = _error_example(
    "Token refused",
    401,
    "token_not_valid",
    "Token is blacklisted. Sign in again to get a new token.",
)
USER_INACTIVE_EXAMPLE = _error_example(
    "Account deactivated",
    401,
    "user_inactive",
    "The account of this token is deactivated. Sign in with an active account.",
)
TOKEN_401 = error_response(
    401,
    "The token is malformed, expired, blacklisted, of the wrong type, or belongs to "
    "another tenant (`token_not_valid`); its account is deactivated (`user_inactive`); or "
    "it was revoked by a logout or a change of password or role (`token_revoked`).",
)


class TokenEndpointSchema(AutoSchema):
    """Drops the library's generic 401 examples (``not_authenticated``…): these endpoints
    never answer with them, and their own 401 examples are declared per view."""

    def _get_error_response_examples(self) -> list[OpenApiExample]:
        return [e for e in super()._get_error_response_examples() if "401" not in e.status_codes]


# Each auth view runs one serializer (``serializer_class``): it is the request and the answer.
def token_obtain_view(view):
    return extend_schema_view(
        post=extend_schema(
            tags=["auth"],
            summary="Sign in",
            description="Exchanges an e-mail (any spelling: compared in its canonical form) "
            "and password for an access "
            "token (send it as `Authorization: Bearer <access>`) and a single-use refresh "
            "token. Both belong to this tenant and are refused on any other. An unknown "
            "e-mail, a wrong password and a deactivated account all get the same 401. "
            "Attempts are limited per e-mail and per client address (429).",
            request=view.serializer_class,
            responses={
                200: view.serializer_class,
                401: error_response(401, "The e-mail and password do not match an active account."),
                429: error_response(
                    429,
                    "Too many attempts for this e-mail or from this address; retry after "
                    "`Retry-After` seconds.",
                ),
                503: error_response(
                    503,
                    "Sign-in cannot be rate-limited right now, so it is refused (or the "
                    "database is unavailable); retry after `Retry-After` seconds.",
                ),
            },
            examples=[
                OpenApiExample(
                    "Credentials",
                    value={"email": "dana@acme.test", "password": "correct horse battery staple"},
                    request_only=True,
                ),
                PAIR_EXAMPLE,
                _error_example(
                    "Wrong credentials", 401, "invalid_credentials", INVALID_CREDENTIALS
                ),
                _error_example(
                    "Login unavailable",
                    503,
                    LoginUnavailable.default_code,
                    str(LoginUnavailable.default_detail),
                ),
            ],
        )
    )(view)


def token_refresh_view(view):
    return extend_schema_view(
        post=extend_schema(
            tags=["auth"],
            summary="Refresh the token pair",
            description="Spends a refresh token of this tenant and returns a new access and "
            "refresh token. A refresh token works once: it is blacklisted as it is spent, and "
            "of concurrent refreshes with the same token exactly one succeeds.",
            request=view.serializer_class,
            responses={200: view.serializer_class, 401: TOKEN_401},
            examples=[
                OpenApiExample(
                    "Refresh token", value={"refresh": EXAMPLE_REFRESH}, request_only=True
                ),
                PAIR_EXAMPLE,
                TOKEN_REFUSED_EXAMPLE,
                USER_INACTIVE_EXAMPLE,
            ],
        )
    )(view)


def token_verify_view(view):
    return extend_schema_view(
        post=extend_schema(
            tags=["auth"],
            summary="Verify a token",
            description="Answers 200 if the token (access or refresh) belongs to this tenant, "
            "is unexpired, not blacklisted, and its account is active; otherwise 401.",
            request=view.serializer_class,
            responses={
                200: OpenApiResponse(description="The token is valid here."),
                401: TOKEN_401,
            },
            examples=[
                OpenApiExample("A token", value={"token": EXAMPLE_ACCESS}, request_only=True),
                TOKEN_REFUSED_EXAMPLE,
                USER_INACTIVE_EXAMPLE,
            ],
        )
    )(view)


def logout_view(view):
    return extend_schema_view(
        post=extend_schema(
            tags=["auth"],
            summary="Log out",
            description="Blacklists a refresh token of this tenant so it can never be spent "
            "again, and signs its user out everywhere: every access and refresh token of the "
            "user issued before stops working at once (401 `token_revoked`) and the user's "
            "open sockets are closed (4401 `logged_out`). A refresh token already outdated by "
            "an earlier logout or change of password or role is still blacklisted, and signs "
            "nobody out.",
            request=view.serializer_class,
            responses={
                204: OpenApiResponse(
                    description="Logged out: the refresh token is blacklisted and the user's "
                    "tokens are revoked."
                ),
                401: TOKEN_401,
            },
            examples=[
                OpenApiExample(
                    "Refresh token", value={"refresh": EXAMPLE_REFRESH}, request_only=True
                ),
                TOKEN_REFUSED_EXAMPLE,
            ],
        )
    )(view)
