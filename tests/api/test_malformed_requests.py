"""Requests Django or the JSON decoder cannot read answer 400 (413 for size) in the one
error shape with a stable code, on every path, with DEBUG off and on: never a 500 and
never an HTML page. Over a real server (uvicorn), as an attacker would send them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.driver import Server
from tests.fixtures import OWNER_PASSWORD, TENANT_A

HOST = f"{TENANT_A['slug']}.localhost"
EMAIL = TENANT_A["owner_email"]
ME = "/api/v1/users/me/"


@pytest.fixture(scope="module", params=["debug-off", "debug-on"])
def server(request, django_db_setup) -> Iterator[Server]:
    with Server(env={"DEBUG": "1" if request.param == "debug-on" else "0"}) as live:
        yield live


@pytest.fixture(scope="module")
def token(server) -> str:
    return server.login(HOST, EMAIL, OWNER_PASSWORD)


def the_error(response, status: int) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    body = response.json()
    assert set(body) == {"type", "errors"}
    kinds = {"client_error", "validation_error"} if status == 400 else {"client_error"}
    assert body["type"] in ({"server_error"} if status >= 500 else kinds)
    (error,) = body["errors"]
    return error


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def post_raw(server, path: str, body: str, token: str | None = None, method: str = "POST"):
    return server.request(
        method,
        HOST,
        path,
        token=token,
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )


def test_a_50000_deep_array_to_the_login_is_a_400(server):
    response = post_raw(server, "/api/v1/auth/token/", deep_array(50_000))
    assert the_error(response, 400)["code"] == "json_too_deep"


def test_a_20000_deep_object_on_a_write_is_a_400(server, token):
    response = post_raw(server, ME, deep_object(20_000), token=token, method="PATCH")
    assert the_error(response, 400)["code"] == "json_too_deep"
    response = post_raw(server, "/api/v1/catalog/products/", deep_object(20_000), token=token)
    assert the_error(response, 400)["code"] == "json_too_deep"


def test_the_nesting_limit_is_a_setting_and_brackets_in_strings_are_text(server, token, settings):
    limit = settings.ATRIUM_JSON_MAX_DEPTH
    # One level too deep: refused before it is decoded.
    too_deep = '{"name": ' + deep_array(limit) + "}"
    response = post_raw(server, ME, too_deep, token=token, method="PATCH")
    assert the_error(response, 400)["code"] == "json_too_deep"
    # At the limit it is decoded, and the serializer says what is wrong with the value.
    at_limit = '{"name": ' + deep_array(limit - 1) + "}"
    response = post_raw(server, ME, at_limit, token=token, method="PATCH")
    assert response.json()["type"] == "validation_error"
    assert the_error(response, 400)["code"] != "json_too_deep"
    # Brackets inside a string are text, however many.
    name = "[{" * 90 + '\\"' + "]"  # an escaped quote does not end the string
    response = server.request("PATCH", HOST, ME, token=token, json={"name": name})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == name


def test_malformed_json_is_still_a_parse_error(server, token):
    response = post_raw(server, ME, '{"name": ', token=token, method="PATCH")
    assert the_error(response, 400)["code"] == "parse_error"


def test_a_json_body_over_the_upload_limit_is_a_413(server, settings):
    body = '{"email": "' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}'
    response = post_raw(server, "/api/v1/auth/token/", body)
    assert the_error(response, 413)["code"] == "request_too_large"


TOO_MANY = "&".join(f"p{n}=1" for n in range(5_000))


@pytest.mark.parametrize(
    "host, path",
    [
        (HOST, "/api/v1/catalog/products/"),  # a DRF view (filters read the parameters)
        (HOST, "/api/v1/auth/token/"),  # unauthenticated
        (HOST, "/admin/login/"),  # the tenant admin: a plain Django view
        (HOST, "/healthz"),
        ("localhost", "/admin/login/"),  # the platform admin
        ("nope.localhost", "/api/v1/users/"),  # before routing knows the host
    ],
)
def test_5000_query_parameters_are_a_400(server, token, host, path):
    response = server.get(host, f"{path}?{TOO_MANY}", token=token if host == HOST else None)
    assert the_error(response, 400)["code"] == "too_many_fields"


def test_a_form_with_5000_fields_to_the_admin_login_is_a_400(server):
    response = server.request(
        "POST",
        HOST,
        "/admin/login/",
        data=TOO_MANY,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert the_error(response, 400)["code"] == "too_many_fields"


# ------------------------------------------------------------------- unknown URLs


@pytest.mark.parametrize(
    "host, path",
    [
        (HOST, "/api/v1/jobs/"),
        (HOST, "/api/v2/"),
        (HOST, "/nothing-here"),
        ("localhost", "/"),
        ("localhost", "/api/v1/users/"),
    ],
)
def test_unknown_urls_are_a_json_404(server, token, host, path):
    response = server.get(host, path, token=token if host == HOST else None)
    assert the_error(response, 404)["code"] == "not_found"


def test_a_missing_trailing_slash_redirects_a_get_and_names_the_url_otherwise(server, token):
    response = server.get(HOST, "/api/v1/users/me?x=1", token=token)
    assert response.status_code == 301
    assert response.headers["Location"] == "/api/v1/users/me/?x=1"
    response = server.post(HOST, "/api/v1/auth/token", json={"email": EMAIL})
    error = the_error(response, 404)
    assert error["code"] == "not_found" and "/api/v1/auth/token/" in error["detail"]


def test_the_admin_keeps_its_own_pages(server):
    response = server.get(HOST, "/admin/login/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "text/html" in response.headers["Content-Type"]


def test_schema_errors_are_json_not_yaml(server):
    anything = {"Accept": "*/*"}
    response = server.get(
        HOST, "/api/schema/", headers={**anything, "Authorization": "Bearer nonsense"}
    )
    assert the_error(response, 401)["code"] == "token_not_valid"
    # The schema itself is still YAML by default, JSON on request.
    assert server.get(HOST, "/api/schema/", headers=anything).text.startswith("openapi:")
    assert server.get(HOST, "/api/schema/?format=json").json()["openapi"].startswith("3.")
