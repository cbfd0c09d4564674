"""Page-number pagination: ``?page=`` and ``?page_size=`` (capped), count/next/previous."""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        """``page_size`` must be a whole number ≥ 1 (above the cap it is capped): DRF would
        silently serve the default page for ``page_size=abc``, so a typo went unnoticed."""
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

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] += f" At most {self.max_page_size}."
        return parameters
