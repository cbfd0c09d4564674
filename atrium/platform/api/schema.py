"""OpenAPI generation: the error answers as this API really sends them.

drf-standardized-errors documents a fixed list of DRF's codes per status and adds a
response only where a view's classes suggest one; a client generated from that schema
(openapi-python-client makes every enum strict) crashed on real answers. Here:

* Every code of every status comes from the registry of error codes
  (``atrium/errors.py``): one ``ErrorNNN`` schema per status whose ``code`` enum is
  the registry's, so a code declared once is in the schema everywhere it can occur.
* Answers that routing and the platform give before or around any view are on every
  operation: 400 (malformed request: too many query parameters, invalid host), 403
  (``tenant_suspended``), 404 (``tenant_not_found``), 503 (``database_unavailable``,
  ``tenant_provisioning``) and 500.
* A 400 is any of the one error shape's ``validation_error`` or ``client_error`` answers;
  its ``code`` is an open string (field validation codes come from DRF and serializers).
* Writes may answer 409 (a service's ``Conflict``) and bodies 413.
* An empty query parameter (``?in_stock=``) means "not given" (django-filter, search,
  ordering and pagination all read it so, and so do filters declared as a serializer,
  ``extend_schema(parameters=[Serializer])``): the parameters say ``allowEmptyValue``.
* The id of a detail route (``products/{id}/``) never matches one of the list routes
  beside it (``products/top-rated/``), which the router answers first.
* A serializer's description is its own docstring only, never one inherited from a mixin
  (those say how the code works, not what a client sends); likewise no view's description
  is a docstring of Atrium's base views (``doc_excludes``).
"""

from __future__ import annotations

from functools import cache

from drf_spectacular.plumbing import (
    force_instance,
    get_lib_doc_excludes,
    get_override,
    is_basic_serializer,
)
from drf_spectacular.utils import OpenApiResponse
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ServerErrorEnum,
    ValidationErrorEnum,
)
from rest_framework import serializers

from atrium import errors as registry
from atrium.platform.api.errors import load_error_codes

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")
# Statuses any request can be answered with, whatever the view: routing (unknown host,
# suspended or unready tenant, malformed request), a database outage, a bug.
ANY_OPERATION = ("400", "403", "404", "500", "503")
# The actions of the detail route itself (``{id}/``), the one the list routes shadow.
DETAIL_ACTIONS = ("retrieve", "update", "partial_update", "destroy")

STATUS_SUMMARIES = {
    400: "The request is malformed or a value is not valid.",
    401: "Not authenticated: no token, or a refused one.",
    403: "Refused: not allowed for this user, or the tenant is suspended.",
    404: "Not found: no such object or URL, or no tenant serves this host.",
    405: "This URL does not take that method.",
    406: "No answer in a media type the Accept header allows.",
    409: "Conflicts with the current state.",
    413: "The request body is too large.",
    415: "The body's Content-Type is not accepted here.",
    429: "Too many requests: retry after `Retry-After` seconds.",
    500: "A server error.",
    503: "Temporarily unavailable: retry after `Retry-After` seconds.",
}


def doc_excludes() -> list[type]:
    """``GET_LIB_DOC_EXCLUDES``: the classes whose docstrings never describe an operation,
    the library's and Atrium's base views (they say how to write a view)."""
    from atrium.platform.api import views

    return [
        *get_lib_doc_excludes(),
        views.TenantAPIMixin,
        views.TenantGenericViewSet,
        views.TenantServiceViewSet,
        views.ServiceCreateMixin,
        views.ServiceUpdateMixin,
        views.ServiceDestroyMixin,
    ]


def code_list(status: int) -> str:
    return "\n".join(
        f"- `{entry.code}`" + (f": {entry.description}" if entry.description else "")
        for entry in registry.described(status)
    )


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable.")
    detail = serializers.CharField(help_text="For people: what went wrong, what to do.")
    attr = serializers.CharField(
        allow_null=True, help_text="The input field the error is about, or null."
    )
    # Only on 403 quota_exceeded (atrium.tenants.quotas): which quota, and its figures.
    resource = serializers.ChoiceField(
        choices=["seats", "products", "storage_bytes"],
        required=False,
        help_text="quota_exceeded only: the quota that is used up.",
    )
    limit = serializers.IntegerField(
        required=False, help_text="quota_exceeded only: the plan's quota."
    )
    usage = serializers.IntegerField(
        required=False, help_text="quota_exceeded only: how much of it is in use."
    )


class BadRequestResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[ValidationErrorEnum.VALIDATION_ERROR, ClientErrorEnum.CLIENT_ERROR]
    )
    errors = ErrorSerializer(many=True)


class RegisteredCodeField(serializers.ChoiceField):
    """The codes of one status, read from the registry when the schema is generated (a
    module that declares codes may be imported after this field was made)."""

    def __init__(self, status: int, **kwargs) -> None:
        self.status = status
        super().__init__(choices=[], **kwargs)

    @property
    def choices(self) -> dict[str, str]:
        return {code: code for code in registry.codes(self.status)}

    @choices.setter
    def choices(self, value) -> None:  # set by ChoiceField.__init__; the registry decides
        pass


@cache
def error_response_serializer(status: int) -> type[serializers.Serializer]:
    """``ErrorNNNResponse``: the one error shape with the registry's codes of ``status``."""
    error = type(
        f"Error{status}Serializer",
        (ErrorSerializer,),
        {
            "__doc__": f"One error of a {status} answer.",
            "code": RegisteredCodeField(status, help_text="Stable and machine-readable."),
        },
    )
    kind = ServerErrorEnum.choices if status >= 500 else ClientErrorEnum.choices
    return type(
        f"Error{status}ResponseSerializer",
        (serializers.Serializer,),
        {
            "__doc__": f"The error answer of status {status}.",
            "type": serializers.ChoiceField(choices=kind),
            "errors": error(many=True),
        },
    )


def error_response(status: int, description: str = "") -> OpenApiResponse:
    """The documented answer of ``status``, for views that declare it themselves."""
    load_error_codes()
    return OpenApiResponse(
        error_response_serializer(status),
        # The codes are listed as registered now: every app's errors module is loaded.
        description=f"{description or STATUS_SUMMARIES.get(status, '')}\n\n{code_list(status)}",
    )


class AutoSchema(StandardizedErrorsAutoSchema):
    def _get_allowed_error_status_codes(self) -> list[str]:
        load_error_codes()
        return ["400", *(str(status) for status in registry.statuses() if status != 400)]

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code in responses:
            return False
        if status_code in ANY_OPERATION:
            return True
        if status_code == "409":
            return self.method in WRITE_METHODS
        if status_code == "413":
            return self.method in BODY_METHODS
        return super()._should_add_error_response(responses, status_code)

    def _get_error_response_serializer(self, status_code: str):
        status = int(status_code)
        if status == 400:
            serializer = self._get_http400_serializer()
            codes_400 = code_list(400)
            description = (
                f"{STATUS_SUMMARIES[400]} `code` is a string: a field's validation code "
                f"(`required`, `invalid`, `max_length`, …) or one of these:\n\n{codes_400}"
            )
            return OpenApiResponse(serializer, description=description)
        description = STATUS_SUMMARIES.get(status, "")
        return OpenApiResponse(
            error_response_serializer(status),
            description=f"{description}\n\n{code_list(status)}".strip(),
        )

    def _get_http400_serializer(self):
        return BadRequestResponseSerializer

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        own = type(serializer).__dict__.get("__doc__")
        if not own and not get_override(serializer, "description"):
            schema.pop("description", None)  # an inherited docstring (a mixin's)
        return schema

    def _get_parameters(self):
        parameters = super()._get_parameters()
        list_routes = getattr(self.view, "list_route_paths", None)
        if list_routes is None or getattr(self.view, "action", None) not in DETAIL_ACTIONS:
            return parameters
        shadowed = sorted(list_routes())
        if not shadowed:
            return parameters
        lookup = getattr(self.view, "lookup_url_kwarg", None) or self.view.lookup_field
        not_a_list_route = f"(?!(?:{'|'.join(shadowed)})$)"
        for parameter in parameters:
            if parameter["in"] == "path" and parameter["name"] in (lookup, "id"):
                pattern = parameter.setdefault("schema", {}).get("pattern", "")
                parameter["schema"]["pattern"] = f"^{not_a_list_route}{pattern.lstrip('^')}"
        return parameters

    def _get_filter_parameters(self):
        return _empty_allowed(super()._get_filter_parameters())

    def _get_pagination_parameters(self):
        return _empty_allowed(super()._get_pagination_parameters())

    def _process_override_parameters(self, direction="request"):
        parameters = super()._process_override_parameters(direction)
        names = {
            name
            for given in self.get_override_parameters()
            if is_basic_serializer(given)
            for name in force_instance(given).fields
        }
        from_serializers = [
            parameter
            for (name, location), parameter in parameters.items()
            if parameter and location == "query" and name in names
        ]
        for parameter in _empty_allowed(from_serializers):
            parameter["schema"].pop("minLength", None)
        return parameters


def _empty_allowed(parameters: list[dict]) -> list[dict]:
    for parameter in parameters:
        if parameter.get("in") == "query":
            parameter["allowEmptyValue"] = True
    return parameters
