"""Jobs API: follow a job, and download what it produced (from this tenant only). Its
OpenAPI documentation is in ``openapi.py``."""

from django.http import FileResponse, Http404
from rest_framework import mixins
from rest_framework.decorators import action

from atrium.platform.accounts.models import Role
from atrium.platform.api.views import TenantGenericViewSet

from . import openapi, storage
from .models import Job
from .serializers import JobSerializer


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
        if job.output_path.endswith(".json"):  # a person's data export: one JSON document
            filename, media_type = f"{job.kind}-{job.pk}.json", "application/json"
        else:
            filename = f"{job.kind}-{job.pk}.csv"
            media_type = download_media_type(request.headers.get("Accept", ""))
        return FileResponse(handle, as_attachment=True, filename=filename, content_type=media_type)


def download_media_type(accept: str) -> str:
    """``text/csv`` unless the client asks for bytes (``application/octet-stream``) and not
    for CSV; a client generated from the schema reads the first documented type as bytes."""
    wanted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "application/octet-stream" in wanted and "text/csv" not in wanted:
        return "application/octet-stream"
    return "text/csv"
