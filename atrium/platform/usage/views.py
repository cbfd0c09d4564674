"""``GET /api/v1/usage/``: the tenant's usage report (``atrium.tenants.usage``). Its OpenAPI
documentation is in ``openapi.py``."""

from rest_framework.response import Response

from atrium.platform.accounts.permissions import IsTenantAdmin
from atrium.platform.api.views import TenantGenericViewSet
from atrium.tenants.context import current_tenant
from atrium.tenants.usage import usage_report

from . import openapi
from .serializers import UsageSerializer


class UsageViewSet(TenantGenericViewSet):
    serializer_class = UsageSerializer
    permissions = (IsTenantAdmin,)
    pagination_class = None

    @openapi.usage
    def retrieve(self, request):
        # The plan as routing has it: a plan change is seen on the next request.
        return Response(UsageSerializer(usage_report(current_tenant())).data)
