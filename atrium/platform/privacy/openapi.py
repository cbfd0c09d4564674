"""Person data's OpenAPI documentation, so that ``views.py`` holds only what runs."""

from drf_spectacular.utils import extend_schema

from atrium.platform.api.openapi import document
from atrium.platform.jobs.serializers import JobSerializer

from . import services


def person_viewset(viewset):
    return document(
        viewset,
        "users",
        data_export=extend_schema(
            summary="Export everything about a person (a job)",
            description="Admins, or the person themselves. Answers 202 with a job; its "
            "download is one JSON document (`format`: `" + services.EXPORT_FORMAT + "`) "
            "with a section per app: the account, their sessions, API keys, reviews, "
            "products, audit entries and invitations where those apps are installed.",
            request=None,
            responses={202: JobSerializer},
        ),
        erase=extend_schema(
            summary="Erase a person",
            description="Owners, or admins for users who are not owners; a person signed in, "
            "not an API key. Synchronous: answers the anonymised user. E-mail and name "
            "replaced, password unusable, deactivated; every token, session and API key "
            "revoked; reviews keep their rating and lose their text; products stay, owned "
            "by the anonymised account. The last active owner cannot be erased (409 "
            "`last_owner`).",
            request=None,
        ),
    )
