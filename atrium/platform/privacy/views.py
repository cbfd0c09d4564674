"""A person's data: ``POST users/{id}/data-export/`` (202, a job) and ``POST
users/{id}/erase/`` (200, the anonymised user). Documented in ``openapi.py``."""

from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from atrium.platform.accounts import selectors as account_selectors
from atrium.platform.accounts.serializers import UserSerializer
from atrium.platform.api.views import TenantGenericViewSet
from atrium.platform.jobs.serializers import JobSerializer

from . import openapi, services, tasks


@openapi.person_viewset
class PersonDataViewSet(TenantGenericViewSet):
    serializer_class = UserSerializer
    lookup_value_regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    def get_queryset(self):
        return account_selectors.user_list()

    @action(detail=True, methods=["post"], url_path="data-export")
    def data_export(self, request, *args, **kwargs):
        job = services.user_data_export_start(
            actor=request.user, user=self.get_object(), task=tasks.export_person_data
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"], url_path="erase")
    def erase(self, request, *args, **kwargs):
        return self.rendered(services.user_erase(actor=request.user, user=self.get_object()))
