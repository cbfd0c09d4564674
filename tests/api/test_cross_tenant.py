"""A token of tenant alpha is refused on tenant beta, on every route of the tenant API.

The matrix is generated from the tenant OpenAPI schema, so a new endpoint is covered the
day it is added; an endpoint documented without authentication must be on the short list
below, so a route cannot become public unnoticed.
"""

import re
import uuid

import pytest
import yaml
from rest_framework.test import APIClient

from atrium.platform.accounts.models import User
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.tenants.context import tenant_scope

# Routes that take no credentials: probes, the host's landing, and the auth endpoints,
# which check the tokens they are given in the body instead (tested in test_auth.py).
PUBLIC_OPERATIONS = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/token/"),
    ("POST", "/api/v1/auth/token/refresh/"),
    ("POST", "/api/v1/auth/token/verify/"),
    ("POST", "/api/v1/auth/logout/"),
}
METHODS = ("get", "post", "put", "patch", "delete")


def tenant_schema() -> dict:
    response = APIClient(HTTP_HOST="beta.localhost").get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def is_public(operation: dict) -> bool:
    """No security requirement, or only the empty one, means no credentials are needed."""
    return all(not requirement for requirement in operation.get("security") or [{}])


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.fixture
def alpha_tokens(tenant_a):
    with tenant_scope(tenant_a):
        return token_pair_issue(user=User.objects.get(email="owner@alpha.test"))


@pytest.mark.django_db
def test_the_public_routes_are_exactly_the_known_ones(tenant_b):
    public = {(method, path) for method, path, op in operations(tenant_schema()) if is_public(op)}
    assert public == PUBLIC_OPERATIONS


@pytest.mark.django_db
def test_alpha_token_is_refused_on_every_beta_route(tenant_a, tenant_b, alpha_tokens):
    protected = [
        (method, path) for method, path, op in operations(tenant_schema()) if not is_public(op)
    ]
    assert len(protected) >= 5  # the users API at least: the matrix is not empty
    client = APIClient(HTTP_HOST="beta.localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alpha_tokens.access}")
    for method, path in protected:
        response = client.generic(method, concrete(path), "{}", content_type="application/json")
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["errors"][0]["code"] in {"authentication_failed", "token_not_valid"}


@pytest.mark.django_db
def test_alpha_token_works_on_alpha(tenant_a, alpha_tokens):
    client = APIClient(HTTP_HOST="alpha.localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {alpha_tokens.access}")
    assert client.get("/api/v1/users/me/").json()["email"] == "owner@alpha.test"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/auth/token/refresh/", "refresh"),
        ("/api/v1/auth/token/verify/", "token"),
        ("/api/v1/auth/logout/", "refresh"),
    ],
)
@pytest.mark.django_db
def test_alpha_tokens_are_refused_by_beta_auth_endpoints(tenant_b, alpha_tokens, path, field):
    for token in (alpha_tokens.access, alpha_tokens.refresh):
        response = APIClient(HTTP_HOST="beta.localhost").post(path, {field: token}, format="json")
        assert response.status_code == 401, (path, response.json())
