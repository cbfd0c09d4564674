"""Jobs API: follow a job, and download what it produced (from this tenant only). Its
OpenAPI documentation is in ``openapi.py``."""

from django.http import FileResponse, Http404
from rest_framework import mixins
from rest_framework.decorators import action

from atrium.platform.accounts.models import Role
from atrium.platform.api.views import TenantGenericViewSet
from atrium.platform.audit.services import audit_record

from . import openapi, storage
from .models import Job
from .serializers import JobSerializer

# The media type of a job's file, by the extension of its output (CSV unless listed).
# Media types by the output's extension (a person's data export is one JSON document).
FILE_MEDIA_TYPES = {"ndjson": "application/x-ndjson", "json": "application/json"}


@openapi.job_viewset
class JobViewSet(mixins.RetrieveModelMixin, TenantGenericViewSet):
    serializer_class = JobSerializer
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        jobs = Job.objects.all()
        user = self.request.user
        if user.role == Role.MEMBER:
            jobs = jobs.filter(created_by=user)  # members follow their own jobs only
        return jobs

    def perform_content_negotiation(self, request, force=False):
        # The download is a file whatever the Accept header says (text/csv,
        # application/octet-stream, */*); its errors are JSON like every other error.
        return super().perform_content_negotiation(
            request, force=force or self.action == "download"
        )

    @action(detail=True, methods=["get"], url_name="download")
    def download(self, request, pk=None):
        job = self.get_object()
        if job.status != "succeeded" or not job.output_path:
            raise Http404
        try:
            handle = storage.open_for_tenant(job.output_path)
        except (PermissionError, FileNotFoundError):
            # A path outside this tenant's folder, or a file gone from storage: to the
            # client both are a download that does not exist, never a 500.
            raise Http404 from None
        extension = job.output_path.rsplit(".", 1)[-1] if "." in job.output_path else "csv"
        audit_record("export.downloaded", target=job, target_label=job.kind)
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"{job.kind}-{job.pk}.{extension}",
            content_type=FILE_MEDIA_TYPES.get(extension)
            or download_media_type(request.headers.get("Accept", "")),
        )


def download_media_type(accept: str) -> str:
    """``text/csv`` unless the client asks for bytes (``application/octet-stream``) and not
    for CSV; a client generated from the schema reads the first documented type as bytes."""
    wanted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "application/octet-stream" in wanted and "text/csv" not in wanted:
        return "application/octet-stream"
    return "text/csv"
