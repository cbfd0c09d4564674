"""Keyset (cursor) pagination over (at, id), newest first.

The cursor is the last entry's (at, id); the next page is ``WHERE (at, id) < cursor``,
served by the ``audit_newest`` index whatever the log's size, and entries inserted while a
client pages (all newer than its cursor) neither shift nor repeat its pages. A page is the
entries as the API renders them (``serializers.entries_rendered``: one SELECT).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from django.db.models import Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from atrium.platform.api.pagination import StrictPageSizeMixin

from .serializers import entries_rendered


class AuditCursorPagination(StrictPageSizeMixin, BasePagination):
    cursor_query_param = "cursor"
    page_size = 50
    max_page_size = 200

    @staticmethod
    def encode(at: str, pk: str) -> str:
        """The cursor after the entry rendered with ``at`` (ISO 8601) and ``pk``."""
        return base64.urlsafe_b64encode(f"{at}|{pk}".encode()).decode().rstrip("=")

    def decode(self, raw: str) -> tuple[datetime, uuid.UUID]:
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            at, pk = text.split("|")
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None:  # never one of ours: a cursor's time is UTC
                raise ValueError(at)
            return moment, uuid.UUID(pk)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor: use the `next` link of a page."]},
                code="invalid",
            ) from None

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            at, pk = self.decode(raw)
            # at <= cursor bounds the index scan; the rest drops the cursor's own ties.
            queryset = queryset.filter(Q(at__lte=at), Q(at__lt=at) | Q(id__lt=pk))
        rows = entries_rendered(queryset[: size + 1])
        self.has_next = len(rows) > size
        page = rows[:size]
        self.last = page[-1] if page else None
        return page

    def get_next_link(self) -> str | None:
        if not self.has_next or self.last is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(
            url, self.cursor_query_param, self.encode(self.last["at"], self.last["id"])
        )

    def get_first_link(self) -> str:
        return remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next (older) page; null on the last page.",
                    "example": "https://acme.example.com/api/v1/audit-events/?cursor=MjAyNi0x",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The cursor of the next page (from the `next` link).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                # A larger size is capped, not refused (StrictPageSizeMixin): no maximum.
                "description": f"Entries per page, at most {self.max_page_size}.",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]
