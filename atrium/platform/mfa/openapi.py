"""The OpenAPI documentation of the MFA API, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from atrium.platform.accounts.openapi import PAIR_EXAMPLE
from atrium.platform.api.openapi import (
    action_schema,
    error_example,
    request_example,
    response_example,
)
from atrium.platform.api.schema import error_response

from . import errors
from .serializers import (
    ConfirmSerializer,
    DisableSerializer,
    EnrolmentSerializer,
    RecoveryCodesSerializer,
)

EXAMPLE_URI = "otpauth://totp/Acme:dana%40acme.test?secret=JBSWY3DPEHPK3PXP&issuer=Acme"


# Per method (the viewset's actions are mapped in urls.py, not by a router).
enrol = action_schema(
    "Start enrolling an authenticator app (TOTP)",
    None,
    EnrolmentSerializer,
    status=201,
    description="A new secret, as an otpauth:// URI (issuer: the organisation's name) "
    "and its QR code (inline SVG), pending until confirmed with a first code. Starting "
    "again replaces a pending secret; while MFA is on it answers 409 "
    "`mfa_already_enabled`.",
    examples=[
        response_example("A new secret", {"otpauth_uri": EXAMPLE_URI, "qr_svg": "<svg …>…</svg>"}),
        error_example(
            "Already on",
            409,
            "mfa_already_enabled",
            errors.MfaAlreadyEnabled.message_template,
        ),
    ],
)
confirm = action_schema(
    "Turn MFA on with a first code",
    ConfirmSerializer,
    RecoveryCodesSerializer,
    description="Checks a code of the pending authenticator (one 30 s step of clock "
    "skew either way) and turns MFA on. The answer holds 10 single-use recovery "
    "codes, shown this once. From now on signing in needs a code "
    "(`POST /api/v1/auth/token/` answers 401 `mfa_required`). A wrong code answers 400 "
    "`invalid_mfa_code`; no pending enrolment 409 `mfa_enrolment_not_started`.",
    examples=[
        request_example("A code", {"code": "492039"}),
        response_example("Recovery codes", {"recovery_codes": ["k7m2p-9xq4r", "…(10 in all)"]}),
    ],
)
disable = extend_schema(
    summary="Turn MFA off",
    description="Needs the password and a code (TOTP or recovery code). Refused with "
    "409 `mfa_required_by_tenant` while the organisation requires MFA of your role, "
    "409 `mfa_not_enabled` when it is off; 400 `invalid_password` / "
    "`invalid_mfa_code` for a wrong password or code.",
    request=DisableSerializer,
    responses={204: OpenApiResponse(description="MFA is off; recovery codes deleted.")},
    examples=[request_example("Password and code", {"password": "…", "code": "492039"})],
)


def totp_viewset(viewset):
    return extend_schema(tags=["auth"])(viewset)


def token_mfa_view(view):
    post = extend_schema(
        tags=["auth"],
        summary="Sign in, second step: a code",
        description="After `POST /api/v1/auth/token/` answered 401 `mfa_required` with an "
        "`mfa_token`, send it with a code of the authenticator app (or an unused recovery "
        "code) for the token pair. The mfa_token is good on this tenant only, for "
        "ATRIUM_MFA_TOKEN_TTL seconds, once, and for a few wrong codes; a code works once "
        "(no replay) and only within one 30 s step of now. Attempts count in the login "
        "limits (429).",
        request=view.serializer_class,
        responses={
            200: view.serializer_class,
            401: error_response(
                401,
                "The mfa_token is expired, spent, unknown or of another tenant "
                "(`mfa_token_invalid`), or the code is wrong (`invalid_mfa_code`).",
            ),
            429: error_response(429, "Too many attempts; retry after `Retry-After` seconds."),
        },
        examples=[
            request_example("Token and code", {"mfa_token": "Zx3…", "code": "492039"}),
            PAIR_EXAMPLE,
            error_example(
                "Wrong code", 401, "invalid_mfa_code", errors.InvalidMfaCode.message_template
            ),
            error_example(
                "Dead mfa_token", 401, "mfa_token_invalid", errors.MfaTokenInvalid.message_template
            ),
        ],
    )
    return extend_schema_view(post=post)(view)
