"""``/api/asyncapi/``: the event catalogue as AsyncAPI 3.0.0 (JSON), served like
``/api/schema/`` on every tenant host: no authentication needed."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .asyncapi import asyncapi_document


@extend_schema(exclude=True)  # a document of its own, linked from the OpenAPI description
class AsyncAPIView(APIView):
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def get(self, request):
        return Response(asyncapi_document(host=request.get_host(), secure=request.is_secure()))
