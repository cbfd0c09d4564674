"""The authenticated hot path: what a request costs once warm, and that the user cache it
reads changes nothing of what a token may do.

Once warm, an authenticated read (``users/me/``, a cached product list) makes no SQL query
and two Redis round trips: the one ``MGET`` of the routing version, the token's user entry
and the cached response (``atrium.tenants.readahead``), and the throttles' script with
metering's commands in the same pipeline. Every change of the user (deactivation, role, a revoked session, a
profile edit) is seen by the next request all the same.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from atrium.platform.accounts import services as accounts
from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.tokens import TenantAccessToken
from atrium.platform.accounts.usercache import user_keys
from atrium.tenants.context import tenant_scope
from atrium.tenants.directory import VERSION_KEY
from tests.fixtures import OWNER_PASSWORD
from tests.redis_round_trips import RedisRoundTrips

HOST = "alpha.localhost"
PASSWORD = "Tr0ub4dor-and-3-horses"
ME, PRODUCTS, SESSIONS = "/api/v1/users/me/", "/api/v1/catalog/products/", "/api/v1/auth/sessions/"
METERING = ["INCRBY", "EXPIRE", "PFADD", "EXPIRE"]


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def sign_in(email: str, agent: str = "test") -> APIClient:
    client = APIClient(HTTP_HOST=HOST, HTTP_USER_AGENT=agent)
    response = client.post("/api/v1/auth/token/", {"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


@pytest.fixture
def dana(tenant_a) -> User:
    with tenant_scope(tenant_a):
        return User.objects.create_user(email="dana@alpha.test", password=PASSWORD)


@pytest.fixture
def owner(tenant_a) -> User:
    with tenant_scope(tenant_a):
        return User.objects.get(email="owner@alpha.test")


def warm(client: APIClient, path: str) -> None:
    """Requests until the routing copy, the user entry and (for a list) the page are
    cached."""
    for _ in range(2):
        assert client.get(path).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", [ME, PRODUCTS])
def test_a_warm_authenticated_read_makes_no_query_and_two_round_trips(dana, tenant_a, path):
    client = sign_in(dana.email)
    warm(client, path)
    with CaptureQueriesContext(connection) as queries, RedisRoundTrips() as trips:
        response = client.get(path)
    assert response.status_code == 200
    if path == PRODUCTS:
        assert response["X-Cache"] == "hit"
    assert [query["sql"] for query in queries.captured_queries] == []
    assert trips.commands == [["MGET"], ["EVALSHA", *METERING]]
    # The one MGET asks for the routing version, the user entry (and the cached page).
    [mget] = trips.sent[0]
    with tenant_scope(tenant_a):
        generation, entry = user_keys(dana.pk)
    assert mget[1:4] == [VERSION_KEY, generation, entry]
    assert len(mget) == (4 if path == ME else 6)


@pytest.mark.django_db
def test_a_hit_sends_the_bytes_the_miss_rendered_and_other_renderings_store_nothing(dana):
    client = sign_in(dana.email)
    indented = {"HTTP_ACCEPT": "application/json; indent=2"}
    first = client.get(PRODUCTS, **indented)  # renders its own way: nothing kept
    assert (first["X-Cache"], first.content[:3]) == ("miss", b"{\n ")
    miss = client.get(PRODUCTS)
    hit = client.get(PRODUCTS)
    assert (miss["X-Cache"], hit["X-Cache"]) == ("miss", "hit")
    assert hit.content == miss.content and hit["Content-Type"] == miss["Content-Type"]
    assert json.loads(hit.content) == json.loads(first.content)
    assert hit["Content-Type"] == "application/json"
    again = client.get(PRODUCTS, **indented)  # the kept entry, rendered as asked
    assert (again["X-Cache"], again.content) == ("hit", first.content)


@pytest.mark.django_db
def test_a_cold_user_is_read_in_one_query_then_from_its_entry(dana, tenant_a):
    client = sign_in(dana.email)
    assert client.get(ME).status_code == 200  # routing is warm now
    with tenant_scope(tenant_a):
        get_redis_connection("default").delete(user_keys(dana.pk)[1])
    with CaptureQueriesContext(connection) as cold:
        assert client.get(ME).status_code == 200
    user_queries = [q["sql"] for q in cold.captured_queries if "accounts_user" in q["sql"]]
    assert len(user_queries) == 1, user_queries  # the user and its revoked sessions
    assert "password" in user_queries[0]  # read from the database: all of the row
    with CaptureQueriesContext(connection) as warm_queries:
        assert client.get(ME).json()["email"] == dana.email
    assert warm_queries.captured_queries == []


@pytest.mark.django_db
def test_a_revoked_session_s_access_token_is_refused_at_once(
    dana, django_capture_on_commit_callbacks
):
    laptop = sign_in(dana.email, "laptop")
    stolen = sign_in(dana.email, "curl/8")
    warm(stolen, ME)
    target = next(s["id"] for s in laptop.get(SESSIONS).json() if s["user_agent"] == "curl/8")
    with django_capture_on_commit_callbacks(execute=True):
        assert laptop.delete(f"{SESSIONS}{target}/").status_code == 204
    refused = stolen.get(ME)
    assert (refused.status_code, codes(refused)) == (401, ["token_revoked"])
    assert stolen.get(PRODUCTS).status_code == 401
    # The other session's token lives on, warm or cold.
    assert laptop.get(ME).status_code == 200
    assert laptop.get(ME).status_code == 200


@pytest.mark.django_db
def test_deactivation_and_role_change_are_seen_on_the_next_request(
    dana, owner, tenant_a, django_capture_on_commit_callbacks
):
    client = sign_in(dana.email)
    warm(client, ME)
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant_a):
        accounts.user_update(actor=owner, user=dana, role=Role.ADMIN)
    refused = client.get(ME)
    assert (refused.status_code, codes(refused)) == (401, ["token_revoked"])

    client = sign_in(dana.email)
    warm(client, ME)
    assert client.get(ME).json()["role"] == "admin"
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant_a):
        accounts.user_deactivate(actor=owner, user=dana)
    refused = client.get(ME)
    assert (refused.status_code, codes(refused)) == (401, ["user_inactive"])


@pytest.mark.django_db
def test_a_change_that_revokes_nothing_is_seen_on_the_next_request(dana, tenant_a):
    client = sign_in(dana.email)
    warm(client, ME)
    with tenant_scope(tenant_a):  # no commit hook runs in this test: the first bump shows it
        user = User.objects.get(pk=dana.pk)
        user.name = "Dana Scully"
        user.save()
    assert client.get(ME).json()["name"] == "Dana Scully"
    with tenant_scope(tenant_a):
        User.objects.get(pk=dana.pk).delete()
    refused = client.get(ME)
    assert (refused.status_code, codes(refused)) == (401, ["user_inactive"])


@pytest.mark.django_db
def test_a_forged_user_claim_gets_nothing_of_another_user(dana, owner):
    """The read-ahead names keys from the token's user claim before the signature is
    checked: the owner's id in a token with dana's signature is refused all the same, while
    the owner's entry is warm."""
    warm(sign_in_owner(owner), ME)
    header, _, signature = sign_in(dana.email)._credentials["HTTP_AUTHORIZATION"][7:].split(".")
    claims = {"token_type": "access", "user_id": str(owner.pk), "exp": 9999999999}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = APIClient(HTTP_HOST=HOST)
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{body}.{signature}")
    refused = forged.get(ME)
    assert (refused.status_code, codes(refused)) == (401, ["token_not_valid"])
    # Garbage that only looks like a token is refused too, not a 500.
    for garbage in ("a.b.c", "x." + "W" * 3000 + ".y", "a." + "WwW" * 2000 + ".c", "only"):
        forged.credentials(HTTP_AUTHORIZATION=f"Bearer {garbage}")
        assert forged.get(ME).status_code == 401


def sign_in_owner(owner: User) -> APIClient:
    client = APIClient(HTTP_HOST=HOST)
    response = client.post(
        "/api/v1/auth/token/", {"email": owner.email, "password": OWNER_PASSWORD}
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


@pytest.mark.django_db
def test_a_token_verified_before_is_refused_once_it_expires(dana, tenant_a):
    """Access tokens are verified once per process (their text, tenant and key) and their
    expiry checked on every request: a token used while valid is refused once expired."""
    with tenant_scope(tenant_a):
        token = TenantAccessToken.for_user(dana)
        token.set_exp(lifetime=dt.timedelta(seconds=2))
        raw = str(token)
    client = APIClient(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {raw}")
    warm(client, ME)
    time.sleep(2.5)
    refused = client.get(ME)
    assert (refused.status_code, codes(refused)) == (401, ["token_not_valid"])
    # The same text on another tenant's host was never verified there.
    beta = APIClient(HTTP_HOST="beta.localhost", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert beta.get(ME).status_code == 401
