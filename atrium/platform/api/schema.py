"""OpenAPI generation: drf-standardized-errors' error responses, as this API really sends them.

Two things differ from the library's defaults, and a client generated from the schema (or
schemathesis checking answers against it) would otherwise be told something false:

* A 400 is any of the one error shape's ``validation_error`` or ``client_error`` answers.
  The library documents a per-field list of codes built from the request serializer, but
  writes here also refuse unknown fields (``unknown_field``, with the unknown name as
  ``attr``), lists refuse unknown ``ordering`` fields, and services add codes of their own
  (``unique``, ``invalid_encoding``, …): ``code`` is documented as a stable string instead.
* A 401 carries the codes of the token authentication (``token_not_valid``,
  ``user_inactive``, …), not only DRF's two.
* An empty query parameter (``?in_stock=``) means "not given" (django-filter, search,
  ordering and pagination all read it so): the parameters say ``allowEmptyValue``.
* Writes may answer 409 (``Conflict`` of a service: ``category_in_use``, ``slug_taken``, …).
"""

from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ValidationErrorEnum
from rest_framework import serializers

from atrium.platform.accounts.authentication import AUTHENTICATION_ERROR_CODES

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable.")
    detail = serializers.CharField(help_text="For people: what went wrong, what to do.")
    attr = serializers.CharField(
        allow_null=True, help_text="The input field the error is about, or null."
    )


class BadRequestResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[ValidationErrorEnum.VALIDATION_ERROR, ClientErrorEnum.CLIENT_ERROR]
    )
    errors = ErrorSerializer(many=True)


class UnauthorizedErrorSerializer(ErrorSerializer):
    code = serializers.ChoiceField(choices=AUTHENTICATION_ERROR_CODES)


class UnauthorizedResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = UnauthorizedErrorSerializer(many=True)


class ConflictResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ErrorSerializer(many=True)


class AutoSchema(StandardizedErrorsAutoSchema):
    def _get_allowed_error_status_codes(self) -> list[str]:
        return [*super()._get_allowed_error_status_codes(), "409"]

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code == "409" and self.method not in WRITE_METHODS:
            return False
        return super()._should_add_error_response(responses, status_code)

    def _get_error_response_serializer(self, status_code: str):
        if status_code == "409":
            return ConflictResponseSerializer
        if status_code == "401":
            return UnauthorizedResponseSerializer
        return super()._get_error_response_serializer(status_code)

    def _get_http400_serializer(self):
        return BadRequestResponseSerializer

    def _get_filter_parameters(self):
        return _empty_allowed(super()._get_filter_parameters())

    def _get_pagination_parameters(self):
        return _empty_allowed(super()._get_pagination_parameters())


def _empty_allowed(parameters: list[dict]) -> list[dict]:
    for parameter in parameters:
        if parameter.get("in") == "query":
            parameter["allowEmptyValue"] = True
    return parameters
