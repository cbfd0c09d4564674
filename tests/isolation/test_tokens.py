"""A token of tenant alpha is refused on tenant beta: every route, every method, every door.

The matrix is generated from the tenant OpenAPI schema, so a new endpoint is covered the
day it is added. So that the generated list can neither be empty nor quietly incomplete,
it is checked against the URL conf itself: every (method, path) that a DRF view of the
tenant URL conf answers must be in the schema, and the other way round. Routes documented
without authentication are on a short list, so a route cannot become public unnoticed.

Each refusal is checked against a control: the same request with beta's own token is not
refused, so the 401 is about the token and nothing else. Refresh, verify, logout and the
WebSocket connect get the same attack, and none of them changes anything in either tenant.
"""

from __future__ import annotations

import functools
import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pyotp
import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSetMixin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from atrium.platform.accounts.account_tokens import account_token_issue
from atrium.platform.accounts.models import AccountTokenPurpose, User
from atrium.platform.accounts.tokens import SESSION_CLAIM, TokenPair
from atrium.platform.events.views import AsyncAPIView
from atrium.platform.mfa import services as mfa
from atrium.tenants import provisioning, services
from atrium.tenants.context import tenant_scope
from tests.fixtures import OWNER_PASSWORD
from tests.realtime.sockets import async_test, communicator, open_socket, refusal

from .conftest import BETA_HOST, World, api, assert_error, tenant_rows

# Routes that take no credentials: probes, the host's landing, and the auth endpoints,
# which check the tokens they are given in the body instead.
PUBLIC_OPERATIONS = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/token/"),
    ("POST", "/api/v1/auth/token/refresh/"),
    ("POST", "/api/v1/auth/token/verify/"),
    ("POST", "/api/v1/auth/logout/"),
    # Mailed tokens are their credential (tests below: refused on every other tenant).
    ("POST", "/api/v1/auth/password/reset/"),
    ("POST", "/api/v1/auth/password/reset/confirm/"),
    ("POST", "/api/v1/auth/email/confirm/"),
    # The invitation's token, in the body, is the credential.
    ("POST", "/api/v1/auth/invitations/accept/"),
    ("POST", "/api/v1/auth/token/mfa/"),
}
SCHEMA_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Every method a client can send; the documented ones and the others alike.
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE")
# The fewest protected operations the tenant API has today: the matrix is never empty.
MIN_PROTECTED = 25


@functools.cache
def tenant_schema() -> dict:
    response = APIClient(HTTP_HOST=BETA_HOST).get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def schema_operations(schema: dict) -> dict[tuple[str, str], dict]:
    operations = {}
    for path, item in schema["paths"].items():
        for method in SCHEMA_METHODS:
            if method in item:
                operations[(method.upper(), path)] = item[method]
    return operations


def is_public(operation: dict) -> bool:
    """No security requirement, or only the empty one, means no credentials are needed."""
    return all(not requirement for requirement in operation.get("security") or [{}])


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _openapi_path(route: str) -> str:
    route = route.replace("^", "").replace("$", "")
    route = re.sub(
        r"\(\?P<(\w+)>[^)]*\)", lambda m: "{id}" if m[1] == "pk" else f"{{{m[1]}}}", route
    )
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    return "/" + route


# The documents themselves (OpenAPI, its UIs, the AsyncAPI document of the events).
DOCS_VIEWS = (SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView, AsyncAPIView)


def urlconf_operations() -> set[tuple[str, str]]:
    """(method, path) of every DRF view of the tenant URL conf, read from the views."""
    found = set()
    for route, callback in _walk(get_resolver("config.urls_tenant").url_patterns):
        view = getattr(callback, "cls", None)
        if view is None or not issubclass(view, APIView) or issubclass(view, DOCS_VIEWS):
            continue  # the schema and docs pages themselves
        allowed = set(view.http_method_names) - {"options", "head", "trace"}
        if issubclass(view, ViewSetMixin):
            methods = set(callback.actions) & allowed
        else:
            methods = {method for method in allowed if hasattr(view, method)}
        found |= {(method.upper(), _openapi_path(route)) for method in methods}
    return found


@pytest.mark.django_db
def test_the_generated_matrix_is_complete_and_the_public_routes_are_the_known_ones(tenant_b):
    operations = schema_operations(tenant_schema())
    assert set(operations) == urlconf_operations(), (
        "The OpenAPI schema and the URL conf disagree: a route missing from the schema "
        "would be missing from this matrix too."
    )
    public = {key for key, operation in operations.items() if is_public(operation)}
    assert public == PUBLIC_OPERATIONS
    assert len(operations) - len(public) >= MIN_PROTECTED
    # Every method of the API appears, so none can be skipped unnoticed.
    assert {method for method, _ in operations} == {"GET", "POST", "PATCH", "DELETE"}


# ---------------------------------------------------------------------------- real ids of beta

# A path parameter of each detail route, filled with a real object of beta: a refusal must
# not be a plain "not found". A new detail route of the platform or the catalog needs its
# object here; another tenant app's come from its own tests/isolation.py (conftest.app_hooks).
REAL_IDS = {
    "/api/v1/users/{id}/": lambda w: w.member.pk,
    "/api/v1/users/{id}/password/": lambda w: w.member.pk,
    "/api/v1/auth/sessions/{id}/": lambda w: session_of(w.tokens),
    "/api/v1/catalog/categories/{id}/": lambda w: w.category.pk,
    "/api/v1/catalog/products/{id}/": lambda w: w.product.pk,
    "/api/v1/catalog/products/{id}/restore/": lambda w: w.deleted_product.pk,
    "/api/v1/catalog/products/{id}/reviews/": lambda w: w.product.pk,
    "/api/v1/catalog/reviews/{id}/": lambda w: w.review.pk,
    "/api/v1/jobs/{id}/": lambda w: w.job.pk,
    "/api/v1/jobs/{id}/download/": lambda w: w.job.pk,
}


def session_of(tokens: TokenPair) -> str:
    """The session (``auth/sessions/{id}/``) of a token pair: its ``sid`` claim."""
    return jwt.decode(tokens.refresh, options={"verify_signature": False})[SESSION_CLAIM]


def real_id(path: str, world: World):
    if path in REAL_IDS:
        return REAL_IDS[path](world)
    assert path in world.app_ids, (
        f"add a real object of beta for the new route {path} to REAL_IDS, or to its app's "
        "tests/isolation.py"
    )
    return world.app_ids[path]


def concrete(path: str, world: World) -> str:
    if "{" not in path:
        return path
    ids = real_id(path, world)
    if isinstance(ids, dict):  # a route with several parameters: one id per name
        return re.sub(r"\{([^}]+)\}", lambda match: str(ids[match.group(1)]), path)
    return re.sub(r"\{[^}]+\}", str(ids), path)


def protected_paths() -> list[str]:
    operations = schema_operations(tenant_schema())
    return sorted({path for (_, path), op in operations.items() if not is_public(op)})


def refuse_foreign_tokens(alpha: World, beta: World, paths: list[str]) -> None:
    """Alpha's access and refresh tokens on beta's host, every path and method: 401 with
    ``token_not_valid``, and not a row of beta changes."""
    before = tenant_rows(beta.tenant)
    tried = 0
    for token in (alpha.tokens.access, alpha.tokens.refresh):
        client = api(BETA_HOST, token)
        for path in paths:
            for method in ALL_METHODS:
                response = client.generic(
                    method, concrete(path, beta), "{}", content_type="application/json"
                )
                assert response.status_code == 401, (method, path, response.status_code)
                if method != "HEAD":
                    assert_error(response, 401, "token_not_valid")
                tried += 1
    assert tried == 2 * len(paths) * len(ALL_METHODS)
    assert tenant_rows(beta.tenant) == before


@pytest.mark.django_db
def test_alpha_tokens_are_refused_on_every_beta_route_and_method(alpha, beta, roomy_limits):
    refuse_foreign_tokens(alpha, beta, protected_paths())


@pytest.mark.django_db
def test_control_beta_token_is_accepted_on_the_same_requests(beta, roomy_limits):
    """The refusals above are about the token: beta's own gets past authentication."""
    operations = schema_operations(tenant_schema())
    client = api(BETA_HOST, beta.tokens.access)
    # Revoking the token's own session ends the token: that request goes last.
    own_session = ("DELETE", "/api/v1/auth/sessions/{id}/")
    for (method, path), operation in sorted(
        operations.items(), key=lambda item: (item[0] == own_session, item[0])
    ):
        if is_public(operation):
            continue
        response = client.generic(
            method, concrete(path, beta), "{}", content_type="application/json"
        )
        assert response.status_code not in (401, 403), (method, path, response.content[:300])
        assert response.status_code < 500, (method, path)


@pytest.mark.django_db
def test_on_public_routes_a_foreign_token_is_refused_or_ignored_never_honoured(alpha, beta):
    for method, path in sorted(PUBLIC_OPERATIONS):
        anonymous = APIClient(HTTP_HOST=BETA_HOST).generic(
            method, path, "{}", content_type="application/json"
        )
        foreign = api(BETA_HOST, alpha.tokens.access).generic(
            method, path, "{}", content_type="application/json"
        )
        if foreign.status_code == 401:
            assert_error(foreign, 401, "token_not_valid")
        else:
            assert (foreign.status_code, foreign.content) == (
                anonymous.status_code,
                anonymous.content,
            ), (method, path)


@pytest.mark.django_db
def test_alpha_tokens_work_on_alpha(alpha):
    response = alpha.client().get("/api/v1/users/me/")
    assert response.json()["email"] == "owner@alpha.test"


# ---------------------------------------------------------------------------- the auth endpoints


def token_state(world: World) -> tuple[int, int]:
    with tenant_scope(world.tenant):
        return OutstandingToken.objects.count(), BlacklistedToken.objects.count()


AUTH_ENDPOINTS = [
    ("/api/v1/auth/token/refresh/", "refresh"),
    ("/api/v1/auth/token/verify/", "token"),
    ("/api/v1/auth/logout/", "refresh"),
]


@pytest.mark.parametrize(("path", "field"), AUTH_ENDPOINTS)
@pytest.mark.django_db
def test_alpha_tokens_are_refused_by_beta_auth_endpoints_and_change_nothing(
    alpha, beta, path, field
):
    before = token_state(alpha), token_state(beta)
    for token in (alpha.tokens.access, alpha.tokens.refresh):
        for client in (APIClient(HTTP_HOST=BETA_HOST), api(BETA_HOST, alpha.tokens.access)):
            response = client.post(path, {field: token}, format="json")
            assert response.status_code == 401, (path, response.json())
            assert response.json()["errors"][0]["code"] in {"token_not_valid"}, response.json()
            assert "access" not in response.json() and "refresh" not in response.json()
    assert (token_state(alpha), token_state(beta)) == before
    # Nothing was spent on alpha either: its refresh token still rotates there, once.
    rotated = APIClient(HTTP_HOST=alpha.host).post(
        "/api/v1/auth/token/refresh/", {"refresh": alpha.tokens.refresh}, format="json"
    )
    assert rotated.status_code == 200, rotated.json()


@pytest.mark.django_db
def test_alpha_credentials_do_not_sign_in_on_beta(alpha, beta):
    """The same e-mail exists on beta with another password: alpha's password does not sign
    in there, beta's does, and neither tenant's token works on the other."""
    beta_password = f"{OWNER_PASSWORD}-beta"
    with tenant_scope(beta.tenant):
        twin = User(email=alpha.owner.email)
        twin.set_password(beta_password)
        twin.save()

    def sign_in(host: str, password: str):
        return APIClient(HTTP_HOST=host).post(
            "/api/v1/auth/token/", {"email": alpha.owner.email, "password": password}, format="json"
        )

    assert_error(sign_in(BETA_HOST, OWNER_PASSWORD), 401, "invalid_credentials")
    assert_error(sign_in(alpha.host, beta_password), 401, "invalid_credentials")
    on_alpha, on_beta = sign_in(alpha.host, OWNER_PASSWORD), sign_in(BETA_HOST, beta_password)
    assert (on_alpha.status_code, on_beta.status_code) == (200, 200), (on_alpha, on_beta)
    for token, host, other in (
        (on_alpha.json()["access"], alpha.host, BETA_HOST),
        (on_beta.json()["access"], BETA_HOST, alpha.host),
    ):
        assert api(host, token).get("/api/v1/users/me/").json()["email"] == alpha.owner.email
        assert_error(api(other, token).get("/api/v1/users/me/"), 401, "token_not_valid")


@pytest.mark.django_db
def test_a_person_in_both_tenants_holds_tokens_bound_to_each(alpha, beta):
    """Same e-mail and password in alpha and beta: each sign-in is good for its host only."""
    with tenant_scope(beta.tenant):
        twin = User(email=alpha.member.email)
        twin.set_password(OWNER_PASSWORD)
        twin.save()
    pairs = {}
    for world in (alpha, beta):
        response = APIClient(HTTP_HOST=world.host).post(
            "/api/v1/auth/token/",
            {"email": alpha.member.email, "password": OWNER_PASSWORD},
            format="json",
        )
        assert response.status_code == 200, response.json()
        pairs[world.tenant.slug] = response.json()
    for mine, theirs in (("alpha", beta), ("beta", alpha)):
        me = api(theirs.host, pairs[mine]["access"]).get("/api/v1/users/me/")
        assert_error(me, 401, "token_not_valid")
        refreshed = APIClient(HTTP_HOST=theirs.host).post(
            "/api/v1/auth/token/refresh/", {"refresh": pairs[mine]["refresh"]}, format="json"
        )
        assert_error(refreshed, 401, "token_not_valid")
    for world, user in ((alpha, alpha.member), (beta, twin)):
        me = api(world.host, pairs[world.tenant.slug]["access"]).get("/api/v1/users/me/")
        assert me.json()["id"] == str(user.pk)


# ---------------------------------------------------------------------------- the MFA door


def mfa_on(world: World) -> str:
    """MFA on for ``world``'s owner (through the services, as the API does); the secret."""
    while not 2 <= time.time() % 30 <= 25:  # the code's step is the server's step
        time.sleep(0.5)
    with tenant_scope(world.tenant):
        secret = parse_qs(urlsplit(mfa.totp_enrolment_start(user=world.owner).otpauth_uri).query)[
            "secret"
        ][0]
        mfa.totp_enrolment_confirm(user=world.owner, code=pyotp.TOTP(secret).at(time.time() - 30))
    return secret


def mfa_token(world: World) -> str:
    response = APIClient(HTTP_HOST=world.host).post(
        "/api/v1/auth/token/",
        {"email": world.owner.email, "password": OWNER_PASSWORD},
        format="json",
    )
    return assert_error(response, 401, "mfa_required")["mfa_token"]


@pytest.mark.django_db
def test_alpha_mfa_tokens_are_refused_on_beta_and_change_nothing(alpha, beta):
    """Beta's owner has MFA on too, with the same e-mail as alpha's and a code that is
    right for alpha: alpha's mfa_token is still nothing on beta."""
    alpha_secret = mfa_on(alpha)
    with tenant_scope(beta.tenant):
        User.objects.filter(pk=beta.owner.pk).update(email=alpha.owner.email)
        beta.owner.refresh_from_db()
    mfa_on(beta)
    token = mfa_token(alpha)
    before = tenant_rows(beta.tenant), tenant_rows(alpha.tenant)
    code = pyotp.TOTP(alpha_secret).now()
    for client in (APIClient(HTTP_HOST=BETA_HOST), api(BETA_HOST, alpha.tokens.access)):
        response = client.post(
            "/api/v1/auth/token/mfa/", {"mfa_token": token, "code": code}, format="json"
        )
        assert_error(response, 401, "mfa_token_invalid")
    assert (tenant_rows(beta.tenant), tenant_rows(alpha.tenant)) == before
    # Unspent on alpha: it still signs in there, once.
    signed_in = APIClient(HTTP_HOST=alpha.host).post(
        "/api/v1/auth/token/mfa/", {"mfa_token": token, "code": code}, format="json"
    )
    assert signed_in.status_code == 200, signed_in.json()
    me = api(alpha.host, signed_in.json()["access"]).get("/api/v1/users/me/")
    assert me.json()["id"] == str(alpha.owner.pk)


# ---------------------------------------------------------------------------- the WebSocket door

WS_HOST_VARIANTS = ["beta.localhost", "BETA.localhost:8000", "beta.localhost.", "Beta.Localhost."]


@async_test
async def test_alpha_tokens_cannot_open_a_socket_on_beta(socket_tokens):
    alpha_pair, beta_pair = socket_tokens["alpha"], socket_tokens["beta"]
    for host in WS_HOST_VARIANTS:
        for token in (alpha_pair.access, alpha_pair.refresh, beta_pair.refresh):
            for socket in (
                communicator(host=host, subprotocols=["bearer", token]),
                communicator(host=host, token=token),
            ):
                assert await refusal(socket) == (4401, "token_not_valid"), host
        # Control: beta's access token opens a socket on the same host.
        async with open_socket(host=host, subprotocols=["bearer", beta_pair.access]):
            pass


@pytest.mark.django_db
def test_a_beta_user_with_alpha_s_user_id_does_not_make_alpha_s_token_good_on_beta(alpha, beta):
    """Ids are UUIDs, so only a forgery makes them collide; even then the token is alpha's."""
    with tenant_scope(beta.tenant):
        User(pk=alpha.owner.pk, email="twin@beta.test").save(force_insert=True)
    for token in (alpha.tokens.access, alpha.tokens.refresh):
        assert_error(api(BETA_HOST, token).get("/api/v1/users/me/"), 401, "token_not_valid")
        refreshed = APIClient(HTTP_HOST=BETA_HOST).post(
            "/api/v1/auth/token/refresh/", {"refresh": token}, format="json"
        )
        assert_error(refreshed, 401, "token_not_valid")


@pytest.mark.django_db
def test_the_platform_host_accepts_no_tenant_token(alpha, beta):
    for token in (alpha.tokens.access, beta.tokens.access):
        for path in ("/api/schema/", "/api/docs/", "/api/redoc/"):
            response = api("localhost", token).get(path)
            assert response.status_code == 401, path
            if path == "/api/schema/":  # renders its errors as YAML, in the same shape
                assert_error(yaml.safe_load(response.content), 401, "token_not_valid")


# ---------------------------------------------------------------------------- mailed tokens

# Each mailed token kind: its confirmation endpoint and the body that presents it.
MAILED_TOKENS = {
    AccountTokenPurpose.PASSWORD_RESET: (
        "/api/v1/auth/password/reset/confirm/",
        lambda token: {"token": token, "new_password": "Brand-New-Horse-Staple-9"},
    ),
    AccountTokenPurpose.EMAIL_CHANGE: (
        "/api/v1/auth/email/confirm/",
        lambda token: {"token": token},
    ),
}


def assert_invalid_token(response) -> None:
    """400 ``invalid_token`` about the ``token`` field (a validation error of the body)."""
    assert response.status_code == 400, response.content
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [
        ("invalid_token", "token")
    ]


def mailed_token(tenant, user: User, purpose: AccountTokenPurpose) -> str:
    with tenant_scope(tenant):
        return account_token_issue(
            user=user, purpose=purpose, ttl=600, new_email=f"moved-{purpose}@elsewhere.test"
        )


@pytest.mark.parametrize("purpose", list(MAILED_TOKENS))
@pytest.mark.django_db
def test_alpha_mailed_tokens_are_refused_on_beta_and_change_nothing(alpha, beta, purpose):
    """A reset or e-mail-change token of alpha, presented on beta (whose member has the same
    e-mail), is an unknown token there; it still works on alpha afterwards."""
    with tenant_scope(beta.tenant):
        User.objects.create_user(email=alpha.member.email, password=OWNER_PASSWORD)
    path, body = MAILED_TOKENS[purpose]
    token = mailed_token(alpha.tenant, alpha.member, purpose)
    before = tenant_rows(beta.tenant), tenant_rows(alpha.tenant)
    for client in (APIClient(HTTP_HOST=BETA_HOST), api(BETA_HOST, alpha.tokens.access)):
        assert_invalid_token(client.post(path, body(token), format="json"))
    assert (tenant_rows(beta.tenant), tenant_rows(alpha.tenant)) == before
    home = APIClient(HTTP_HOST=alpha.host).post(path, body(token), format="json")
    assert home.status_code == 200, home.content


def test_mailed_tokens_die_with_their_tenant_purged_and_re_created(live_db):
    """Purge a tenant and create it again under the same slug and owner: the tokens mailed
    by the first are unknown to the second."""
    slug, email = "reborn", "owner@reborn.test"
    live_db.append(slug)
    host = f"{slug}.localhost"
    first = provisioning.tenant_create(
        slug=slug, name="Reborn", owner_email=email, owner_password=OWNER_PASSWORD
    ).tenant
    with tenant_scope(first):
        owner = User.objects.get()
    tokens = {purpose: mailed_token(first, owner, purpose) for purpose in MAILED_TOKENS}
    services.tenant_purge(slug=slug)
    again = provisioning.tenant_create(
        slug=slug, name="Reborn", owner_email=email, owner_password=OWNER_PASSWORD
    ).tenant
    assert again.pk != first.pk
    for purpose, (path, body) in MAILED_TOKENS.items():
        assert_invalid_token(
            APIClient(HTTP_HOST=host).post(path, body(tokens[purpose]), format="json")
        )
    with tenant_scope(again):
        assert User.objects.get().email == email
        assert User.objects.get().check_password(OWNER_PASSWORD)


def test_access_tokens_die_with_their_tenant_purged_and_re_created(live_db):
    """A tenant purged and created again under the same slug, owner and password: the first
    one's access token, used (and its user cached) before the purge, is refused by the
    second, on HTTP and on a socket; the second's own sign-in works."""
    slug, email = "reborn-jwt", "owner@reborn-jwt.test"
    live_db.append(slug)
    host = f"{slug}.localhost"
    provisioning.tenant_create(
        slug=slug, name="Reborn", owner_email=email, owner_password=OWNER_PASSWORD
    )
    credentials = {"email": email, "password": OWNER_PASSWORD}
    old = APIClient(HTTP_HOST=host).post("/api/v1/auth/token/", credentials).json()["access"]
    client = APIClient(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {old}")
    for _ in range(2):
        assert client.get("/api/v1/users/me/").status_code == 200
    services.tenant_purge(slug=slug)
    provisioning.tenant_create(
        slug=slug, name="Reborn", owner_email=email, owner_password=OWNER_PASSWORD
    )
    refused = client.get("/api/v1/users/me/")
    assert_error(refused, 401, "token_not_valid")
    assert refused_socket(host, old) == (4401, "token_not_valid")
    fresh = APIClient(HTTP_HOST=host).post("/api/v1/auth/token/", credentials).json()["access"]
    assert (
        APIClient(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {fresh}")
        .get("/api/v1/users/me/")
        .status_code
        == 200
    )


def refused_socket(host: str, token: str) -> tuple[int, str]:
    closes = []

    @async_test
    async def connect() -> None:
        closes.append(await refusal(communicator(host=host, token=token)))

    connect()
    return closes[0]
