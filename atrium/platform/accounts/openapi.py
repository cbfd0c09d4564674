"""The OpenAPI documentation of the users and auth APIs: summaries, examples and response
maps, one decorator per view, so that ``views.py`` and ``auth.py`` hold only what runs."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view

from atrium.platform.api.openapi import (
    action_schema,
    document,
    error_example,
    request_example,
    response_example,
)
from atrium.platform.api.schema import AutoSchema, error_response

from .errors import INVALID_CREDENTIALS
from .serializers import (
    DetailSerializer,
    EmailChangeSerializer,
    PasswordSetSerializer,
    ProfileUpdateSerializer,
    SessionSerializer,
    TokenPairSerializer,
    UserCreatedSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from .throttling import LoginUnavailable

# ------------------------------------------------------------------------ users API
USER_EXAMPLE = response_example(
    "A member",
    {
        "id": "1b7e5d0e-3f43-4e55-9a49-8c4d7b1b6a11",
        "email": "dana@acme.test",
        "name": "Dana Scully",
        "role": "member",
        "is_active": True,
        "date_joined": "2026-11-24T10:00:00Z",
        "last_login": None,
    },
)


def user_viewset(viewset):
    return document(
        viewset,
        "users",
        list=extend_schema(
            summary="List the tenant's users",
            description="Every user of this tenant. Filter by `role` and `is_active`, search "
            "with `q` (e-mail, name), order with `ordering`.",
            examples=[USER_EXAMPLE],
        ),
        retrieve=extend_schema(summary="Get one user", examples=[USER_EXAMPLE]),
        create=action_schema(
            "Create or invite a user (owners and admins)",
            UserCreateSerializer,
            UserCreatedSerializer,
            status=201,
            description="Without `password`, a one-time password is generated and returned "
            "once; the user must change it before anything else works (403 "
            "`password_change_required`), as with `must_change_password`. Only owners may "
            "create owners. A weak password is 400 `password_too_weak`.",
            examples=[
                request_example(
                    "Invite a member",
                    {"email": "dana@acme.test", "name": "Dana Scully", "role": "member"},
                )
            ],
        ),
        partial_update=action_schema(
            "Change a user's name, role or access (owners and admins)",
            UserUpdateSerializer,
            UserSerializer,
            description="A tenant always keeps one active owner: demoting or deactivating the "
            "last one answers 409 `last_owner`. Only owners change the owner role. A change of "
            "role or a deactivation revokes the user's tokens at once (401 `token_revoked` / "
            "`user_inactive`) and closes its open sockets (4401).",
            examples=[request_example("Promote", {"role": "admin"})],
        ),
        destroy=extend_schema(
            summary="Deactivate a user (owners and admins)",
            description="Users are never deleted: they are deactivated and can be "
            "re-activated. The user's tokens stop working at once and its open sockets are "
            "closed (4401).",
            responses={204: None},
        ),
        me=[
            action_schema(
                "Update your own profile",
                ProfileUpdateSerializer,
                UserSerializer,
                methods=["PATCH"],
                examples=[request_example("Rename", {"name": "Dana K. Scully"})],
            ),
            extend_schema(
                summary="The signed-in user",
                methods=["GET"],
                responses={200: UserSerializer},
                examples=[USER_EXAMPLE],
            ),
        ],
        me_email=action_schema(
            "Change your e-mail address",
            EmailChangeSerializer,
            DetailSerializer,
            status=202,
            description="Needs your password (400 `invalid_password`). Mails a confirmation "
            "link (and its token) to the new address; the change happens when it is "
            "confirmed (POST /api/v1/auth/email/confirm/). An address in use is 409 "
            "`email_taken`.",
            examples=[
                request_example(
                    "New address", {"new_email": "dana@new.test", "password": "my password"}
                )
            ],
        ),
        password=action_schema(
            "Set a user's password (owners and admins)",
            PasswordSetSerializer,
            None,
            status=204,
            description="Not your own (change it with POST /api/v1/auth/password/change/). A "
            "weak password is 400 `password_too_weak`. Every token of the user stops working at once (401 `token_revoked`) "
            "and its open sockets are closed (4401 `password_changed`). The password is "
            "one-time (the user must change it first) only with `must_change_password`.",
        ),
    )


# ------------------------------------------------------------------------- auth API
# The 401/429/503 codes of each status come from the registry of error codes (errors.py).


EXAMPLE_ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJl"
EXAMPLE_REFRESH = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"
)
REFRESH_EXAMPLE = request_example("Refresh token", {"refresh": EXAMPLE_REFRESH})
PAIR_EXAMPLE = OpenApiExample(
    "A new token pair",
    value={"access": EXAMPLE_ACCESS, "refresh": EXAMPLE_REFRESH},
    status_codes=["200"],
    response_only=True,
)
TOKEN_REFUSED_EXAMPLE = error_example(
    "Token refused",
    401,
    "token_not_valid",
    "Token is blacklisted. Sign in again to get a new token.",
)
USER_INACTIVE_EXAMPLE = error_example(
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


def _auth_view(view, summary: str, **schema):
    """Documents the POST of an auth view. Each runs one serializer (``serializer_class``):
    it is the request (and, for the token views, the answer)."""
    post = extend_schema(tags=["auth"], summary=summary, request=view.serializer_class, **schema)
    return extend_schema_view(post=post)(view)


def token_obtain_view(view):
    return _auth_view(
        view,
        "Sign in",
        description="Exchanges an e-mail (any spelling: compared in its canonical form) "
        "and password for an access "
        "token (send it as `Authorization: Bearer <access>`) and a single-use refresh "
        "token. Both belong to this tenant and are refused on any other. An unknown "
        "e-mail, a wrong password and a deactivated account all get the same 401. "
        "Attempts are limited per e-mail and per client address (429). When the account "
        "has MFA on, a right password answers 401 `mfa_required` with a top-level "
        "`mfa_token` for `POST /api/v1/auth/token/mfa/`.",
        responses={
            200: view.serializer_class,
            401: error_response(
                401,
                "The e-mail and password do not match an active account "
                "(`invalid_credentials`), or they do and a code is needed (`mfa_required`, "
                "with `mfa_token`).",
            ),
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
            request_example(
                "Credentials",
                {"email": "dana@acme.test", "password": "correct horse battery staple"},
            ),
            PAIR_EXAMPLE,
            error_example("Wrong credentials", 401, "invalid_credentials", INVALID_CREDENTIALS),
            OpenApiExample(
                "MFA required",
                value={
                    "type": "client_error",
                    "errors": [
                        {
                            "code": "mfa_required",
                            "detail": "This account uses multi-factor authentication: …",
                            "attr": None,
                        }
                    ],
                    "mfa_token": "Zx3kq…",
                },
                status_codes=["401"],
                response_only=True,
            ),
            error_example(
                "Login unavailable", 503, LoginUnavailable.code, LoginUnavailable.message_template
            ),
        ],
    )


def token_refresh_view(view):
    return _auth_view(
        view,
        "Refresh the token pair",
        description="Spends a refresh token of this tenant and returns a new access and "
        "refresh token. A refresh token works once: it is blacklisted as it is spent, and "
        "of concurrent refreshes with the same token exactly one succeeds.",
        responses={200: view.serializer_class, 401: TOKEN_401},
        examples=[REFRESH_EXAMPLE, PAIR_EXAMPLE, TOKEN_REFUSED_EXAMPLE, USER_INACTIVE_EXAMPLE],
    )


def token_verify_view(view):
    return _auth_view(
        view,
        "Verify a token",
        description="Answers 200 if the token (access or refresh) belongs to this tenant, "
        "is unexpired, not blacklisted, and its account is active; otherwise 401.",
        responses={200: OpenApiResponse(description="The token is valid here."), 401: TOKEN_401},
        examples=[
            request_example("A token", {"token": EXAMPLE_ACCESS}),
            TOKEN_REFUSED_EXAMPLE,
            USER_INACTIVE_EXAMPLE,
        ],
    )


def logout_view(view):
    return _auth_view(
        view,
        "Log out",
        description="Blacklists a refresh token of this tenant so it can never be spent "
        "again, and signs its user out everywhere: every access and refresh token of the "
        "user issued before stops working at once (401 `token_revoked`) and the user's "
        "open sockets are closed (4401 `logged_out`). A refresh token already outdated by "
        "an earlier logout or change of password or role is still blacklisted, and signs "
        "nobody out.",
        responses={
            204: OpenApiResponse(
                description="Logged out: the refresh token is blacklisted and the user's "
                "tokens are revoked."
            ),
            401: TOKEN_401,
        },
        examples=[REFRESH_EXAMPLE, TOKEN_REFUSED_EXAMPLE],
    )


# ------------------------------------------------------- passwords, e-mail, sessions
LIMITED_429 = error_response(
    429, "Too many attempts (login's limits); retry after `Retry-After` seconds."
)


def password_change_view(view):
    post = extend_schema(
        tags=["auth"],
        summary="Change your password",
        request=view.serializer_class,
        description="Needs the current password (400 `invalid_password`); the new one must "
        "pass the password rules (400 `password_too_weak`). Every other access and refresh "
        "token you hold stops working at once (401 `token_revoked`) and your open sockets "
        "close (4401 `password_changed`); the answer is a fresh token pair. This is the "
        "endpoint a one-time password (`password_change_required`) must use first.",
        responses={200: TokenPairSerializer},
        examples=[
            request_example(
                "Change",
                {"current_password": "the old one", "new_password": "correct horse battery"},
            ),
            PAIR_EXAMPLE,
        ],
    )
    return extend_schema_view(post=post)(view)


def password_reset_view(view):
    return _auth_view(
        view,
        "Ask for a password reset",
        description="Always 202, whether or not an account has the address, after the same "
        "work (the lookup happens in a background task). When an active account has it, "
        "a mail with a one-time link (`token=` in its query, and the token in plain text) "
        "goes out; the token works for `ATRIUM_PASSWORD_RESET_TTL` seconds. Limited like "
        "sign-in (429).",
        responses={202: DetailSerializer, 429: LIMITED_429},
        examples=[request_example("Address", {"email": "dana@acme.test"})],
    )


def password_reset_confirm_view(view):
    return _auth_view(
        view,
        "Reset the password with a mailed token",
        description="Sets the new password: the token works once, on this tenant only, and "
        "dies at any change of the password. Every token of the account stops working and "
        "a one-time password is one no more. 400 `invalid_token` (unknown, malformed, used, "
        "of another tenant, or dead since a password change), `token_expired` or "
        "`password_too_weak`. Limited like sign-in (429).",
        responses={200: DetailSerializer, 429: LIMITED_429},
        examples=[
            request_example(
                "Token and password", {"token": "mailed-token", "new_password": "a new one"}
            )
        ],
    )


def email_confirm_view(view):
    return _auth_view(
        view,
        "Confirm an e-mail change",
        description="Makes the change that a confirmation mail's token names (once, on this "
        "tenant only; 400 `invalid_token` / `token_expired` otherwise). 409 `email_taken` when another account took the address in the "
        "meantime (the token stays unused). Limited like sign-in (429).",
        responses={
            200: view.serializer_class,
            409: error_response(409, "The address belongs to another account now."),
            429: LIMITED_429,
        },
        examples=[request_example("Token", {"token": "mailed-token"})],
    )


def session_viewset(viewset):
    return document(
        viewset,
        "auth",
        list=extend_schema(
            summary="Your sessions",
            description="Your live sessions (one per sign-in; refreshing continues it), "
            "most recently used first; `current` marks the one of this request's token.",
            responses={200: SessionSerializer(many=True)},
        ),
        destroy=extend_schema(
            summary="Revoke one of your sessions",
            description="Its refresh token is blacklisted, its access tokens are refused at "
            "once (401 `token_revoked`), and the sockets they opened close (4401 "
            "`token_revoked`); your other sessions go on. Another user's session is 404.",
            responses={204: None},
        ),
    )
