"""The OpenAPI schemas validate without warnings, and every operation is documented."""

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


@pytest.mark.parametrize("urlconf", ["config.urls_tenant", "config.urls_public"])
def test_schema_validates_without_warnings(tmp_path, urlconf):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns any generator warning or error into a SchemaGenerationError.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--urlconf", urlconf, "--file", str(target)
    )
    schema = yaml.safe_load(target.read_text())
    assert schema["paths"]


# A sample of each app's operations: the checks below run over a schema that has them.
EXPECTED_TENANT_OPERATIONS = {
    ("POST", "/api/v1/auth/token/"),
    ("POST", "/api/v1/auth/token/refresh/"),
    ("POST", "/api/v1/auth/logout/"),
    ("GET", "/api/v1/users/"),
    ("POST", "/api/v1/users/"),
    ("GET", "/api/v1/users/me/"),
    ("GET", "/api/v1/catalog/products/"),
    ("POST", "/api/v1/catalog/products/"),
    ("PATCH", "/api/v1/catalog/products/{id}/"),
    ("DELETE", "/api/v1/catalog/products/{id}/"),
    ("GET", "/api/v1/catalog/categories/"),
    ("POST", "/api/v1/catalog/exports/"),
    ("GET", "/api/v1/jobs/{id}/"),
    ("GET", "/healthz"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.mark.django_db
def test_every_tenant_operation_has_tags_a_summary_and_its_errors(tenant_a):
    schema = yaml.safe_load(APIClient(HTTP_HOST="alpha.localhost").get("/api/schema/").content)
    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert operations >= EXPECTED_TENANT_OPERATIONS, EXPECTED_TENANT_OPERATIONS - operations
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue  # path-level "parameters", "summary", …: not operations
            where = f"{method.upper()} {path}"
            assert operation.get("tags"), where
            assert operation.get("summary") or operation.get("description"), where
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), where
            if path.startswith("/api/v1/") and method != "get":
                assert "400" in codes or "401" in codes, where


@pytest.mark.django_db
def test_public_host_has_its_own_schema_and_offline_docs(tenant_a):
    client = APIClient(HTTP_HOST="localhost")
    paths = set(yaml.safe_load(client.get("/api/schema/").content)["paths"])
    assert paths == {"/healthz", "/readyz", "/api/v1/signup/", "/api/v1/signup/confirm/"}
    docs = APIClient(HTTP_HOST="alpha.localhost").get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI's assets come from this server (drf-spectacular-sidecar), not a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    bundle = APIClient(HTTP_HOST="alpha.localhost").get(
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    )
    assert bundle.status_code == 200
    assert b"SwaggerUIBundle" in b"".join(bundle.streaming_content)
    redoc = APIClient(HTTP_HOST="alpha.localhost").get("/api/redoc/")
    html = redoc.content.decode()
    # ReDoc too: its bundle from this server, no web fonts, no CDN (see the browser suite).
    assert '<script src="/api/redoc/redoc.standalone.js">' in html
    assert "https://" not in html
    bundle = APIClient(HTTP_HOST="alpha.localhost").get("/api/redoc/redoc.standalone.js")
    assert bundle.status_code == 200
    assert b"Redoc" in bundle.content and b"cdn.redoc.ly" not in bundle.content


def tenant_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator(urlconf="config.urls_tenant").get_schema(request=None, public=True)


def enum_of(schema: dict, status: int) -> set[str]:
    return set(schema["components"]["schemas"][f"Error{status}CodeEnum"]["enum"])


def test_error_codes_come_from_the_one_registry():
    from atrium.errors import error_code

    schema = tenant_schema()
    # What routing and the platform answer before any view runs is documented.
    assert {"tenant_suspended", "permission_denied"} <= enum_of(schema, 403)
    assert {"tenant_not_found", "not_found"} <= enum_of(schema, 404)
    assert {"database_unavailable", "tenant_provisioning"} <= enum_of(schema, 503)
    assert {"category_in_use", "email_taken", "lock_held"} <= enum_of(schema, 409)
    # Declaring a code once puts it in the schema.
    error_code(409, "registry_probe_code", "Declared by a test.")
    assert "registry_probe_code" in enum_of(tenant_schema(), 409)


def test_every_operation_documents_the_answers_any_request_can_get():
    for path, item in tenant_schema()["paths"].items():
        for method, operation in item.items():
            documented = set(operation["responses"])
            assert {"400", "403", "404", "500", "503"} <= documented, f"{method} {path}"
            if path.startswith("/api/v1/") and not path.startswith("/api/v1/auth/token/"):
                assert "429" in documented, f"{method} {path}"


def test_request_schemas_carry_no_inherited_docstrings():
    from atrium.platform.api.serializers import StrictFieldsMixin

    internal = StrictFieldsMixin.__doc__.split()[0:4]
    for name, component in tenant_schema()["components"]["schemas"].items():
        description = component.get("description", "")
        assert description.split()[0:4] != internal, name


def test_the_job_download_is_bytes_first():
    operation = tenant_schema()["paths"]["/api/v1/jobs/{id}/download/"]["get"]
    content = operation["responses"]["200"]["content"]
    assert list(content) == ["application/octet-stream", "text/csv"]
    assert all(
        media["schema"] == {"type": "string", "format": "binary"} for media in content.values()
    )


@pytest.mark.django_db
def test_an_unregistered_code_fails_loudly_in_the_test_settings(tenant_a):
    from django.core.exceptions import ImproperlyConfigured

    from atrium.platform.api.errors import check_registered

    check_registered(409, {"errors": [{"code": "category_in_use"}]})
    check_registered(400, {"errors": [{"code": "anything_goes_for_400"}]})
    with pytest.raises(ImproperlyConfigured, match="not registered"):
        check_registered(409, {"errors": [{"code": "never_declared_anywhere"}]})
