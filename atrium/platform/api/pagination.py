"""Page-number pagination: ``?page=`` and ``?page_size=`` (capped), count/next/previous."""

import functools

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class StrictPageSizeMixin:
    """``page_size`` must be a whole number ≥ 1 (above the cap it is capped): DRF would
    silently serve the default page for ``page_size=abc``, so a typo went unnoticed."""

    page_size_query_param = "page_size"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Give a whole number from 1 to {self.max_page_size}, not {raw[:40]!r}."
                    ]
                },
                code="invalid",
            )
        return min(size, self.max_page_size)


class PageNumberPagination(StrictPageSizeMixin, pagination.PageNumberPagination):
    page_size = 20
    max_page_size = 100

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] += f" At most {self.max_page_size}."
        return parameters


class _CountedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, counted) -> None:
        super().__init__(object_list, per_page)
        self._counted = counted

    @cached_property
    def count(self) -> int:
        return self._counted(lambda: Paginator.count.func(self))


class CachedCountPagination(PageNumberPagination):
    """Page numbers whose ``count`` is kept in the response cache of the view's
    ``cache_namespace`` (``atrium.platform.cache.cached_count``), keyed by the query
    parameters named in the view's ``count_parameters`` (those that select rows): a list's
    ``COUNT(*)`` runs once per filter and cache version, not for every page."""

    def paginate_queryset(self, queryset, request, view=None):
        from atrium.platform.cache import cached_count

        params = request.query_params
        selected = (f"{k}={v}" for k in sorted(view.count_parameters) for v in params.getlist(k))
        scope = f"{request.path}?{'&'.join(selected)}"
        self.django_paginator_class = functools.partial(
            _CountedPaginator,
            counted=lambda count: cached_count(request, view.cache_namespace, scope, count),
        )
        return super().paginate_queryset(queryset, request, view)
