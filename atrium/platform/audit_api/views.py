"""The audit log API: read-only, for owners and admins; an export through the jobs API.
Its OpenAPI documentation is in ``openapi.py``."""

from django.db import transaction
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from atrium.platform.accounts.permissions import IsTenantAdmin
from atrium.platform.api.views import TenantGenericViewSet
from atrium.platform.audit import selectors
from atrium.platform.audit.services import audit_record
from atrium.platform.jobs import services as job_services
from atrium.platform.jobs.serializers import JobSerializer

from . import openapi, tasks
from .exports import EXPORT_KINDS
from .pagination import AuditCursorPagination
from .serializers import (
    AuditEventSerializer,
    AuditExportSerializer,
    AuditFilterSerializer,
    audit_filters,
)


@openapi.audit_event_viewset
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    serializer_class = AuditEventSerializer
    pagination_class = AuditCursorPagination
    # The cursor fixes the order (newest first) and AuditFilterSerializer is the one filter:
    # none of the default backends (ordering, search) applies or is documented.
    filter_backends: list = []
    permissions = (IsTenantAdmin,)
    lookup_value_regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    # Reads, and the export's POST: the list and an entry answer 405 to every write.
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return selectors.audit_event_list()

    def list(self, request, *args, **kwargs):
        entries = selectors.audit_event_list(filters=audit_filters(request.query_params))
        # The page comes rendered (by PostgreSQL, as AuditEventSerializer renders an entry).
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(page)

    @action(detail=False, methods=["post"], url_path="exports")
    def export(self, request):
        body = self.validated(AuditExportSerializer)
        fmt = body.pop("format")
        # The filters as the list's query string spells them, for the job to apply.
        filters = AuditFilterSerializer(body).data
        with transaction.atomic():
            job = job_services.job_submit(
                kind=EXPORT_KINDS[fmt],
                created_by=request.user,
                task=tasks.export_events,
                result={"filters": filters},
            )
            audit_record(
                "audit.exported", target=job, target_label=job.kind, metadata={"filters": filters}
            )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
