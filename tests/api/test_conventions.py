"""API conventions every tenant endpoint inherits: the guarded base view and the one error
shape for bad requests (malformed JSON, wrong content type, oversized bodies, bad verbs)."""

import pytest
from rest_framework.test import APIClient

from atrium.platform.accounts.models import User
from atrium.platform.api.views import TenantGenericViewSet
from atrium.tenants.context import tenant_scope

ME = "/api/v1/users/me/"


@pytest.fixture
def owner_client(tenant_a) -> APIClient:
    with tenant_scope(tenant_a):
        owner = User.objects.get(email="owner@alpha.test")
    client = APIClient(HTTP_HOST="alpha.localhost")
    client.force_authenticate(owner)
    return client


def only_error(response) -> dict:
    body = response.json()
    assert set(body) == {"type", "errors"}
    assert len(body["errors"]) == 1
    return body["errors"][0]


@pytest.mark.parametrize(
    "name", ["get_permissions", "get_authenticators", "get_throttles", "permission_classes"]
)
def test_base_viewset_refuses_overriding_its_safety(name):
    with pytest.raises(TypeError, match="dangerously_"):
        type("Sneaky", (TenantGenericViewSet,), {name: lambda self: []})


def test_opting_out_is_done_by_name():
    class PublicThing(TenantGenericViewSet):
        dangerously_allow_anonymous = True
        dangerously_skip_throttling = True

    view = PublicThing()
    view.action = "list"
    assert view.get_permissions() == []
    assert view.get_throttles() == []


@pytest.mark.django_db
def test_malformed_json_is_a_400_parse_error(owner_client):
    response = owner_client.generic("PATCH", ME, '{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert only_error(response)["code"] == "parse_error"


@pytest.mark.django_db
def test_wrong_content_type_is_a_415(owner_client):
    response = owner_client.generic("PATCH", ME, "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert only_error(response)["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_oversized_body_is_a_413(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = owner_client.patch(ME, {"name": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert only_error(response)["code"] == "request_too_large"


@pytest.mark.django_db
def test_wrong_method_is_a_405(owner_client):
    response = owner_client.put(ME, {"name": "x"})
    assert response.status_code == 405
    assert only_error(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize("value", ["", "ünïcødé ☃ 名前", "x" * 201, None, 12, ["a"]])
@pytest.mark.django_db
def test_odd_values_are_a_clear_4xx_never_a_500(owner_client, value):
    response = owner_client.patch(ME, {"name": value}, format="json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert only_error(response)["attr"] == "name"


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(owner_client):
    response = owner_client.get("/api/v1/nope/")
    assert response.status_code == 404
    assert only_error(response)["code"] == "not_found"


@pytest.mark.django_db
def test_missing_credentials_are_a_401(tenant_a):
    response = APIClient(HTTP_HOST="alpha.localhost").get(ME)
    assert response.status_code == 401
    assert only_error(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
