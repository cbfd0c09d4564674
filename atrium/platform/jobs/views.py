"""Jobs API: follow a job, and download what it produced (from this tenant only)."""

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action

from atrium.platform.accounts.models import Role
from atrium.platform.api.views import TenantGenericViewSet

from . import storage
from .models import Job
from .serializers import JobSerializer

JOB_EXAMPLE = OpenApiExample(
    "Export running",
    value={
        "id": "3e9c7a1e-6a55-4d1f-9a64-1e54b7f0a9c2",
        "kind": "catalog.export",
        "status": "running",
        "progress": 40,
        "result": {},
        "error": {},
        "download_url": None,
        "created_at": "2026-11-24T10:00:00Z",
        "started_at": "2026-11-24T10:00:01Z",
        "finished_at": None,
    },
    response_only=True,
)


# Bytes first: generated clients read a text/* answer as text (and crash on a file).
DOWNLOAD_MEDIA_TYPES = ("application/octet-stream", "text/csv")


@extend_schema(tags=["jobs"])
class JobViewSet(mixins.RetrieveModelMixin, TenantGenericViewSet):
    serializer_class = JobSerializer
    lookup_value_regex = "[0-9a-f-]{36}"

    def get_queryset(self):
        jobs = Job.objects.all()
        user = self.request.user
        if user.role == Role.MEMBER:
            jobs = jobs.filter(created_by=user)  # members follow their own jobs only
        return jobs

    @extend_schema(
        summary="Follow a job",
        description="Status, progress (0-100), result (counts, or a download URL) and error. "
        "Progress is also pushed over the WebSocket as `job.progress` and `job.finished`.",
        examples=[JOB_EXAMPLE],
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        # The download is a file whatever the Accept header says (text/csv,
        # application/octet-stream, */*); its errors are JSON like every other error.
        return super().perform_content_negotiation(
            request, force=force or self.action == "download"
        )

    @extend_schema(
        summary="Download a job's file (CSV)",
        description="The file as bytes: `text/csv` (UTF-8), or `application/octet-stream` "
        "when the request's Accept header names that type and not `text/csv`.",
        responses={
            (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
            for media_type in DOWNLOAD_MEDIA_TYPES
        },
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
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"{job.kind}-{job.pk}.csv",
            content_type=download_media_type(request.headers.get("Accept", "")),
        )


def download_media_type(accept: str) -> str:
    """``text/csv`` unless the client asks for bytes (``application/octet-stream``) and not
    for CSV; a client generated from the schema reads the first documented type as bytes."""
    wanted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "application/octet-stream" in wanted and "text/csv" not in wanted:
        return "application/octet-stream"
    return "text/csv"
