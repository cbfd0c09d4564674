"""An API key of tenant alpha is refused on tenant beta: every route, every method.

The same generated matrix as the tokens' (``test_tokens.py``), with the API-key credential:
alpha's key (every scope) answers 401 ``api_key_invalid`` on each of beta's protected
routes and changes nothing there; beta's own key, the control, gets past authentication.
"""

from __future__ import annotations

import pytest

from atrium.platform.apikeys import services
from atrium.tenants.context import tenant_scope

from .conftest import BETA_HOST, World, assert_error, tenant_rows
from .test_tokens import ALL_METHODS, concrete, protected_paths, schema_operations, tenant_schema

ALL_SCOPES = ["read", "write", "admin"]
# Routes that refuse every API key, whoever's: managing keys, erasing people, sign-ins.
PERSON_ONLY = {
    "/api/v1/api-keys/",
    "/api/v1/api-keys/{id}/",
    "/api/v1/users/{id}/erase/",
    "/api/v1/auth/sessions/",
    "/api/v1/auth/sessions/{id}/",
    # MFA belongs to people.
    "/api/v1/auth/mfa/totp/",
    "/api/v1/auth/mfa/totp/confirm/",
}
# A key acts at most as an admin, never as an owner: what only owners may do is refused.
OWNER_ONLY = {("PATCH", "/api/v1/tenant/")}


def key_of(world: World) -> str:
    with tenant_scope(world.tenant):
        return services.api_key_create(actor=world.owner, name="matrix", scopes=ALL_SCOPES).key


def key_client(host: str, key: str):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST=host)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.mark.django_db
def test_alpha_api_key_is_refused_on_every_beta_route_and_method(alpha, beta, roomy_limits):
    key = key_of(alpha)
    before = tenant_rows(beta.tenant)
    client = key_client(BETA_HOST, key)
    paths = protected_paths()
    assert "/api/v1/api-keys/" in paths and "/api/v1/users/{id}/erase/" in paths
    tried = 0
    for path in paths:
        for method in ALL_METHODS:
            response = client.generic(
                method, concrete(path, beta), "{}", content_type="application/json"
            )
            assert response.status_code == 401, (method, path, response.status_code)
            if method != "HEAD":
                assert_error(response, 401, "api_key_invalid")
            tried += 1
    assert tried == len(paths) * len(ALL_METHODS)
    assert tenant_rows(beta.tenant) == before
    # And it works at home.
    assert key_client(alpha.host, key).get("/api/v1/users/me/").status_code == 200


@pytest.mark.django_db
def test_control_beta_api_key_is_accepted_on_the_same_requests(beta, roomy_limits):
    client = key_client(BETA_HOST, key_of(beta))
    operations = schema_operations(tenant_schema())
    checked = 0
    for method, path in sorted(operations):
        if path not in protected_paths():
            continue
        response = client.generic(
            method, concrete(path, beta), "{}", content_type="application/json"
        )
        if path in PERSON_ONLY:
            assert_error(response, 403, "person_required")
        elif (method, path) in OWNER_ONLY:
            assert_error(response, 403, "permission_denied")
        else:
            assert response.status_code not in (401, 403), (method, path, response.content[:300])
        assert response.status_code < 500, (method, path)
        checked += 1
    assert checked >= 25
