"""The invitations API's OpenAPI documentation, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import extend_schema, extend_schema_view

from atrium.platform.accounts.openapi import PAIR_EXAMPLE
from atrium.platform.accounts.serializers import TokenPairSerializer
from atrium.platform.api.openapi import (
    action_schema,
    document,
    error_example,
    request_example,
    response_example,
)
from atrium.platform.api.schema import error_response

from . import errors
from .serializers import InvitationCreateSerializer, InvitationSerializer

INVITATION_EXAMPLE = response_example(
    "A pending invitation",
    {
        "id": "7d1f0c7e-2b1a-4f7e-9a55-0c3e0f1b2a44",
        "email": "dana@acme.test",
        "role": "member",
        "status": "pending",
        "invited_by": "1b7e5d0e-3f43-4e55-9a49-8c4d7b1b6a11",
        "created_at": "2026-11-24T10:00:00Z",
        "expires_at": "2026-12-01T10:00:00Z",
        "accepted_at": None,
        "revoked_at": None,
    },
)


def invitation_viewset(viewset):
    return document(
        viewset,
        "invitations",
        list=extend_schema(
            summary="List invitations (owners and admins)",
            description="Filter with `status` (pending, accepted, expired, revoked: expired "
            "means past `expires_at` and neither accepted nor revoked) and `role`; search "
            "the e-mail with `q`.",
            examples=[INVITATION_EXAMPLE],
        ),
        retrieve=extend_schema(summary="Get one invitation", examples=[INVITATION_EXAMPLE]),
        create=action_schema(
            "Invite someone by e-mail (owners and admins)",
            InvitationCreateSerializer,
            InvitationSerializer,
            status=201,
            description="Sends a mail with a link to this tenant's host and the token in "
            "plain text; the invitation expires after `ATRIUM_INVITATION_TTL` seconds "
            "(default 7 days). Only owners invite owners. An address with an account "
            "(in any spelling of it) gets 409 `already_member`; one with a pending "
            "invitation 409 `already_invited`: resend or revoke that one.",
            examples=[
                request_example("Invite an admin", {"email": "dana@acme.test", "role": "admin"}),
                error_example(
                    "Already a member",
                    409,
                    errors.AlreadyMember.code,
                    "'dana@acme.test' already has an account here.",
                ),
            ],
        ),
        destroy=extend_schema(
            summary="Revoke an invitation (owners and admins)",
            description="Its token stops working at once. An accepted or revoked invitation "
            "answers 409 `invitation_not_pending`.",
            responses={204: None},
        ),
        resend=action_schema(
            "Send an invitation again (owners and admins)",
            None,
            InvitationSerializer,
            description="Makes a new token (the old one stops working) and a new expiry, "
            "and mails it; works on an expired invitation too.",
            examples=[INVITATION_EXAMPLE],
        ),
    )


def invitation_accept_view(view):
    post = extend_schema(
        tags=["auth"],
        summary="Accept an invitation",
        description="Makes your account with the invited e-mail and role, and signs you in. "
        "The token works once, on this tenant only. Refusals: 400 `invitation_invalid` "
        "(unknown here), `invitation_expired`, `invitation_used`, `invitation_revoked`, "
        "`password_too_weak`; 409 `already_member`; 403 `quota_exceeded` when the plan "
        "has no seat left.",
        request=view.serializer_class,
        responses={
            201: TokenPairSerializer,
            403: error_response(403, "The tenant's plan has no seat left."),
        },
        examples=[
            request_example(
                "Accept",
                {
                    "token": "tH1s-iS-tHe-t0ken-fr0m-tHe-mail-xxxxxxxxxxx",
                    "name": "Dana Scully",
                    "password": "correct horse battery staple",
                },
            ),
            PAIR_EXAMPLE,
            error_example(
                "Expired",
                400,
                errors.InvitationExpired.code,
                errors.InvitationExpired.message_template,
            ),
        ],
        auth=[],
    )
    return extend_schema_view(post=post)(view)
