"""The sign-up API's OpenAPI documentation (the platform host's schema)."""

from drf_spectacular.utils import extend_schema, extend_schema_view

from atrium.platform.api.openapi import error_example, request_example, response_example
from atrium.platform.api.schema import error_response

from . import errors
from .serializers import SignupAcceptedSerializer, SignupConfirmedSerializer


def signup_view(view):
    post = extend_schema(
        tags=["signup"],
        summary="Sign up: ask for a tenant",
        description="Holds the slug and mails a verification link (and the token in plain "
        "text) to the e-mail; confirm with `POST /api/v1/signup/confirm/`. Slugs follow "
        "`tenants create`'s rules (400 `slug_invalid`, `slug_reserved`); a slug that is "
        "taken or held by another pending sign-up is a 409 `slug_taken`. Signing up again "
        "with the same e-mail and slug sends a new link (the old one stops working). "
        "Limited per client address and per e-mail (429). Off unless "
        "`ATRIUM_SIGNUP_ENABLED` (404).",
        request=view.serializer_class,
        responses={
            202: SignupAcceptedSerializer,
            429: error_response(429, "Too many sign-ups from this address or for this e-mail."),
            503: error_response(503, "Sign-up cannot be rate-limited right now; retry."),
        },
        examples=[
            request_example(
                "Sign up",
                {
                    "company_name": "Acme Inc.",
                    "slug": "acme",
                    "email": "founder@acme.test",
                    "password": "correct horse battery staple",
                },
            ),
            response_example(
                "Check your mail",
                {
                    "slug": "acme",
                    "email": "founder@acme.test",
                    "expires_at": "2026-11-25T10:00:00Z",
                },
            ),
            error_example(
                "Slug taken", 409, "slug_taken", "The slug 'acme' is taken; choose another."
            ),
        ],
        auth=[],
    )
    return extend_schema_view(post=post)(view)


def signup_confirm_view(view):
    post = extend_schema(
        tags=["signup"],
        summary="Confirm a sign-up: create the tenant",
        description="Creates the tenant (as `tenants create` does) and its owner with the "
        "sign-up's e-mail and password; answers its URL and a token pair that works on "
        "the tenant's host. The token works once (400 `signup_used`) until it expires "
        "(400 `signup_expired`); an unknown token is 400 `signup_invalid`; a slug taken "
        "meanwhile is 409 `slug_taken`.",
        request=view.serializer_class,
        responses={
            201: SignupConfirmedSerializer,
        },
        examples=[
            request_example("Confirm", {"token": "tH1s-iS-tHe-t0ken-fr0m-tHe-mail-xxxxxxxxxxx"}),
            error_example(
                "Expired", 400, errors.SignupExpired.code, errors.SignupExpired.message_template
            ),
        ],
        auth=[],
    )
    return extend_schema_view(post=post)(view)
