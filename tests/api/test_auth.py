"""Tenant-bound JWTs end to end: sign in, refresh (rotation, races), verify, log out, and
every way a token can be wrong: another tenant's, another type, another key or algorithm,
tampered, expired, blacklisted, spent, or its user deactivated or gone."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connections
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt import state
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from atrium.platform.accounts.authentication import TenantJWTAuthentication
from atrium.platform.accounts.models import User
from atrium.platform.accounts.tokens import (
    TenantAccessToken,
    TenantRefreshToken,
    TokenError,
    refresh_token_revoke,
    signing_key_for,
    token_backend_for,
    token_pair_rotate,
)
from atrium.tenants.context import NoTenantError, tenant_scope
from atrium.tenants.models import Tenant


# ------------------------------------------------------------ a protected test endpoint
class WhoAmIView(APIView):
    authentication_classes = [TenantJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []

    def get(self, request):
        return Response({"id": str(request.user.pk), "email": request.user.email})


urlpatterns = [
    path("api/v1/auth/", include("atrium.platform.accounts.auth_urls")),
    path("whoami/", WhoAmIView.as_view()),
]
pytestmark = pytest.mark.urls(__name__)

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
VERIFY_URL = "/api/v1/auth/token/verify/"
LOGOUT_URL = "/api/v1/auth/logout/"
PASSWORD = "Tr0ub4dor-and-3-horses"
CLAIM = settings.ATRIUM_JWT_TENANT_CLAIM


# ------------------------------------------------------------------------------ helpers
def host(tenant: Tenant) -> str:
    return f"{tenant.slug}.localhost"


def client_for(tenant: Tenant) -> APIClient:
    return APIClient(HTTP_HOST=host(tenant))


def make_user(tenant: Tenant, *, active: bool = True, email: str | None = None) -> User:
    with tenant_scope(tenant):
        return User.objects.create_user(
            email=email or f"u-{uuid.uuid4().hex[:10]}@{tenant.slug}.test",
            password=PASSWORD,
            is_active=active,
        )


def mint(tenant: Tenant, user: User, kind: str) -> str:
    """A genuine token of ``tenant`` (the refresh token is recorded as outstanding)."""
    with tenant_scope(tenant):
        refresh = TenantRefreshToken.for_user(user)
        return str(refresh) if kind == "refresh" else str(refresh.access_token)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(token: str, key: str, algorithm: str = "HS256", **changes) -> str:
    """The same claims (with ``changes``; ``None`` drops a claim), signed anew."""
    payload = {**claims(token), **changes}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def unsigned(token: str) -> str:
    """The same claims under ``alg: none`` and no signature."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims(token)).encode())}."


def tampered(token: str, **changes) -> str:
    """Claims changed, the original signature kept."""
    header, _, signature = token.split(".")
    payload = b64(json.dumps({**claims(token), **changes}).encode())
    return f"{header}.{payload}.{signature}"


def outstanding_count(tenant: Tenant, user: User | None = None) -> int:
    with tenant_scope(tenant):
        rows = OutstandingToken.objects.all()
        return (rows.filter(user=user) if user else rows).count()


def blacklisted_count(tenant: Tenant) -> int:
    with tenant_scope(tenant):
        return BlacklistedToken.objects.count()


def is_blacklisted(tenant: Tenant, token: str) -> bool:
    with tenant_scope(tenant):
        return BlacklistedToken.objects.filter(token__jti=claims(token)["jti"]).exists()


def assert_401(response, code: str = "token_not_valid") -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["type"] == "client_error"
    assert [(e["code"], e["attr"]) for e in body["errors"]] == [(code, None)], body
    assert response["WWW-Authenticate"].startswith("Bearer")


# ------------------------------------------------------------- the token case matrix
@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    user: User  # of alpha: the token holder
    other: User  # of alpha: someone whose identity a tampered token tries to take
    stranger: User  # of beta


@pytest.fixture
def world(tenant_a, tenant_b) -> World:
    return World(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        user=make_user(tenant_a),
        other=make_user(tenant_a),
        stranger=make_user(tenant_b),
    )


# Where a token is presented, and which type it must be there.
ENDPOINTS: dict[str, str] = {
    "protected": "access",
    "refresh": "refresh",
    "verify_access": "access",
    "verify_refresh": "refresh",
    "logout": "refresh",
}


def present(client: APIClient, endpoint: str, token: str):
    if endpoint == "protected":
        return client.get("/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}")
    if endpoint == "refresh":
        return client.post(REFRESH_URL, {"refresh": token})
    if endpoint.startswith("verify"):
        return client.post(VERIFY_URL, {"token": token})
    return client.post(LOGOUT_URL, {"refresh": token})


def other_kind(kind: str) -> str:
    return "access" if kind == "refresh" else "refresh"


def _expired(w: World, kind: str) -> str:
    with tenant_scope(w.tenant_a):
        refresh = TenantRefreshToken.for_user(w.user)
        token = refresh if kind == "refresh" else refresh.access_token
        token.set_exp(lifetime=-timedelta(seconds=5))
        return str(token)


def _blacklisted(w: World, kind: str) -> str:
    token = mint(w.tenant_a, w.user, kind)
    with tenant_scope(w.tenant_a):
        refresh_token_revoke(refresh=token)
    return token


def _spent(w: World, kind: str) -> str:
    token = mint(w.tenant_a, w.user, kind)
    with tenant_scope(w.tenant_a):
        token_pair_rotate(refresh=token)
    return token


def _deactivated(w: World, kind: str) -> str:
    token = mint(w.tenant_a, w.user, kind)
    with tenant_scope(w.tenant_a):
        User.objects.filter(pk=w.user.pk).update(is_active=False)
    return token


def _deleted(w: World, kind: str) -> str:
    token = mint(w.tenant_a, w.user, kind)
    with tenant_scope(w.tenant_a):
        User.objects.filter(pk=w.user.pk).delete()
    return token


def _unrecorded(w: World, kind: str) -> str:
    """Signed with alpha's key and well-formed, but never issued (no outstanding row)."""
    with tenant_scope(w.tenant_a):
        token = TenantRefreshToken()
        token["user_id"] = str(w.user.pk)
        return str(token)


def key_a(w: World) -> str:
    return signing_key_for(w.tenant_a.id)


# name → (builder, endpoints it applies to (None: all), error code expected; None: success)
Builder = Callable[[World, str], str]
CASES: dict[str, tuple[Builder, set[str] | None, str | None]] = {
    "valid": (lambda w, k: mint(w.tenant_a, w.user, k), None, None),
    # Control: the forging helpers produce accepted tokens when key and claims are right,
    # so the refusals below are about the one thing each case changes.
    "resigned_with_tenant_key": (
        lambda w, k: resign(mint(w.tenant_a, w.user, k), key_a(w)),
        None,
        None,
    ),
    "other_tenant": (lambda w, k: mint(w.tenant_b, w.stranger, k), None, "token_not_valid"),
    "other_tenant_claim_on_own_key": (
        lambda w, k: resign(mint(w.tenant_a, w.user, k), key_a(w), **{CLAIM: str(w.tenant_b.id)}),
        None,
        "token_not_valid",
    ),
    "no_tenant_claim": (
        lambda w, k: resign(mint(w.tenant_a, w.user, k), key_a(w), **{CLAIM: None}),
        None,
        "token_not_valid",
    ),
    "wrong_type": (
        lambda w, k: mint(w.tenant_a, w.user, other_kind(k)),
        {"protected", "refresh", "logout"},
        "token_not_valid",
    ),
    "alg_none": (lambda w, k: unsigned(mint(w.tenant_a, w.user, k)), None, "token_not_valid"),
    "alg_hs512_on_tenant_key": (
        lambda w, k: resign(mint(w.tenant_a, w.user, k), key_a(w), "HS512"),
        None,
        "token_not_valid",
    ),
    "global_secret_key": (
        lambda w, k: resign(mint(w.tenant_a, w.user, k), settings.SECRET_KEY),
        None,
        "token_not_valid",
    ),
    "tampered_user": (
        lambda w, k: tampered(mint(w.tenant_a, w.user, k), user_id=str(w.other.pk)),
        None,
        "token_not_valid",
    ),
    "expired": (_expired, None, "token_not_valid"),
    "blacklisted": (_blacklisted, {"refresh", "verify_refresh", "logout"}, "token_not_valid"),
    "spent_by_rotation": (_spent, {"refresh", "verify_refresh", "logout"}, "token_not_valid"),
    "unrecorded_refresh": (_unrecorded, {"refresh", "logout"}, "token_not_valid"),
    "user_deactivated": (
        _deactivated,
        {"protected", "refresh", "verify_access", "verify_refresh"},
        "user_inactive",
    ),
    "user_deleted": (
        _deleted,
        {"protected", "refresh", "verify_access", "verify_refresh"},
        "user_inactive",
    ),
}

MATRIX = [
    pytest.param(case, endpoint, id=f"{case}-{endpoint}")
    for case, (_, endpoints, _) in CASES.items()
    for endpoint in ENDPOINTS
    if endpoints is None or endpoint in endpoints
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "endpoint"), MATRIX)
def test_token_case(world: World, case: str, endpoint: str):
    build, _, error_code = CASES[case]
    token = build(world, ENDPOINTS[endpoint])
    outstanding_before = outstanding_count(world.tenant_a)
    blacklisted_before = blacklisted_count(world.tenant_a)

    response = present(client_for(world.tenant_a), endpoint, token)

    if error_code is None:
        expected = {"logout": 204, "refresh": 200, "protected": 200}.get(endpoint, 200)
        assert response.status_code == expected, response.content
        if endpoint == "protected":
            assert response.json() == {"id": str(world.user.pk), "email": world.user.email}
        if endpoint == "refresh":
            assert set(response.json()) == {"access", "refresh"}
            assert outstanding_count(world.tenant_a) == outstanding_before + 1
        if endpoint in ("refresh", "logout"):
            assert is_blacklisted(world.tenant_a, token)
        return

    assert_401(response, error_code)
    # A refused token changes nothing: no pair issued, nothing blacklisted.
    assert outstanding_count(world.tenant_a) == outstanding_before
    assert blacklisted_count(world.tenant_a) == blacklisted_before
    if case == "other_tenant":
        # The token is sound where it belongs, and the attempt on alpha did not spend it.
        home = present(client_for(world.tenant_b), endpoint, token)
        assert home.status_code in (200, 204), home.content


# ---------------------------------------------------------------------------- sign in
def login(client: APIClient, email: str, password: str = PASSWORD):
    return client.post(TOKEN_URL, {"email": email, "password": password})


@pytest.mark.django_db
def test_login_issues_a_pair_bound_to_the_tenant(tenant_a, tenant_b):
    user = make_user(tenant_a)
    response = login(client_for(tenant_a), user.email)
    assert response.status_code == 200, response.content
    pair = response.json()
    assert set(pair) == {"access", "refresh", "password_change_required"}
    assert pair["password_change_required"] is False

    access, refresh = claims(pair["access"]), claims(pair["refresh"])
    assert access[CLAIM] == refresh[CLAIM] == str(tenant_a.id)
    assert (access["token_type"], refresh["token_type"]) == ("access", "refresh")
    assert access["user_id"] == str(user.pk)
    # Signed with alpha's derived key, and with nothing else.
    jwt.decode(pair["access"], signing_key_for(tenant_a.id), algorithms=["HS256"])
    for key in (settings.SECRET_KEY, signing_key_for(tenant_b.id)):
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(pair["access"], key, algorithms=["HS256"])
    # The refresh token is recorded in alpha's schema only.
    with tenant_scope(tenant_a):
        assert OutstandingToken.objects.filter(jti=refresh["jti"], user=user).exists()
    with tenant_scope(tenant_b):
        assert not OutstandingToken.objects.filter(jti=refresh["jti"]).exists()

    whoami = "/whoami/"
    bearer = f"Bearer {pair['access']}"
    assert client_for(tenant_a).get(whoami, HTTP_AUTHORIZATION=bearer).status_code == 200
    assert_401(client_for(tenant_b).get(whoami, HTTP_AUTHORIZATION=bearer))


@pytest.mark.django_db
def test_login_email_is_case_insensitive(tenant_a):
    user = make_user(tenant_a, email=f"Dana.{uuid.uuid4().hex[:6]}@Alpha.test")
    assert user.email == user.email.lower()
    for spelling in (user.email.upper(), f"  {user.email.title()} "):
        response = login(client_for(tenant_a), spelling)
        assert response.status_code == 200, (spelling, response.content)
        assert claims(response.json()["access"])["user_id"] == str(user.pk)


@pytest.mark.django_db
def test_login_failures_are_indistinguishable(tenant_a, tenant_b):
    user = make_user(tenant_a)
    inactive = make_user(tenant_a, active=False)
    stranger = make_user(tenant_b)  # exists, but on another tenant
    attempts = {
        "wrong password": (user.email, "not-the-password"),
        "unknown e-mail": (f"nobody-{uuid.uuid4().hex[:6]}@alpha.test", PASSWORD),
        "deactivated": (inactive.email, PASSWORD),
        "other tenant's user": (stranger.email, PASSWORD),
    }
    before = outstanding_count(tenant_a)
    bodies = {}
    for name, (email, password) in attempts.items():
        response = login(client_for(tenant_a), email, password)
        assert_401(response, "invalid_credentials")
        bodies[name] = response.content
    assert len(set(bodies.values())) == 1, bodies
    assert outstanding_count(tenant_a) == before


@pytest.mark.django_db
def test_login_is_rate_limited_per_email_before_the_password_is_checked(tenant_a):
    user = make_user(tenant_a)
    per_email = int(settings.ATRIUM_LOGIN_RATE_LIMITS["per_email"].split("/")[0])
    for _ in range(per_email):
        assert_401(login(client_for(tenant_a), user.email, "wrong"), "invalid_credentials")
    # Even the right password is refused now, and no token is issued.
    response = login(client_for(tenant_a), user.email.upper())
    assert response.status_code == 429, response.content
    assert response.json()["errors"][0]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert outstanding_count(tenant_a, user) == 0


@pytest.mark.django_db
def test_login_validates_its_input(tenant_a):
    response = client_for(tenant_a).post(TOKEN_URL, {"email": "not-an-email"})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert {(e["attr"], e["code"]) for e in body["errors"]} == {
        ("email", "invalid"),
        ("password", "required"),
    }


# --------------------------------------------------------------- refresh and log out
@pytest.mark.django_db
def test_refresh_rotates_and_the_spent_token_stays_dead(tenant_a):
    user = make_user(tenant_a)
    first = login(client_for(tenant_a), user.email).json()
    second = client_for(tenant_a).post(REFRESH_URL, {"refresh": first["refresh"]})
    assert second.status_code == 200, second.content
    second = second.json()
    assert claims(second["refresh"])["jti"] != claims(first["refresh"])["jti"]
    assert is_blacklisted(tenant_a, first["refresh"])

    client = client_for(tenant_a)
    assert client.get("/whoami/", HTTP_AUTHORIZATION=f"Bearer {second['access']}").json()[
        "id"
    ] == str(user.pk)
    assert_401(client.post(REFRESH_URL, {"refresh": first["refresh"]}))
    assert_401(client.post(VERIFY_URL, {"token": first["refresh"]}))
    # The successor works, once.
    assert client.post(REFRESH_URL, {"refresh": second["refresh"]}).status_code == 200
    assert_401(client.post(REFRESH_URL, {"refresh": second["refresh"]}))


@pytest.mark.django_db
def test_logout_blacklists_the_refresh_token(tenant_a):
    user = make_user(tenant_a)
    pair = login(client_for(tenant_a), user.email).json()
    client = client_for(tenant_a)
    response = client.post(LOGOUT_URL, {"refresh": pair["refresh"]})
    assert response.status_code == 204
    assert is_blacklisted(tenant_a, pair["refresh"])
    assert_401(client.post(REFRESH_URL, {"refresh": pair["refresh"]}))
    assert_401(client.post(VERIFY_URL, {"token": pair["refresh"]}))
    assert_401(client.post(LOGOUT_URL, {"refresh": pair["refresh"]}))


@pytest.mark.django_db
def test_a_deactivated_user_can_still_log_out(tenant_a):
    user = make_user(tenant_a)
    refresh = mint(tenant_a, user, "refresh")
    with tenant_scope(tenant_a):
        User.objects.filter(pk=user.pk).update(is_active=False)
    assert client_for(tenant_a).post(LOGOUT_URL, {"refresh": refresh}).status_code == 204
    assert is_blacklisted(tenant_a, refresh)


def test_concurrent_refreshes_of_one_token_yield_exactly_one_pair(live_db, tenant_a):
    """N clients spend the same refresh token at the same instant, on separate database
    connections: exactly one gets a new pair (simplejwt's get_or_create lets several in)."""
    threads_count = 8
    user = make_user(tenant_a)
    refresh = mint(tenant_a, user, "refresh")
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def spend() -> None:
        try:
            client = client_for(tenant_a)
            barrier.wait(timeout=30)
            response = client.post(REFRESH_URL, {"refresh": refresh})
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=spend) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [401] * (threads_count - 1), results
        for status, body in results:
            if status == 401:
                assert body["errors"][0]["code"] == "token_not_valid"
        # One pair issued: the original token plus exactly one successor are on record.
        assert outstanding_count(tenant_a, user) == 2
        assert is_blacklisted(tenant_a, refresh)
        winner = next(body for status, body in results if status == 200)
        again = client_for(tenant_a).post(REFRESH_URL, {"refresh": winner["refresh"]})
        assert again.status_code == 200, again.content
    finally:
        with tenant_scope(tenant_a):
            OutstandingToken.objects.filter(user=user).delete()
            User.objects.filter(pk=user.pk).delete()


# ----------------------------------------------------------------------- the plumbing
@pytest.mark.django_db
def test_each_tenant_has_its_own_key_and_backend(tenant_a, tenant_b):
    key_a, key_b = signing_key_for(tenant_a.id), signing_key_for(tenant_b.id)
    assert len({key_a, key_b, settings.SECRET_KEY}) == 3
    assert len(key_a) == 64  # a full SHA-256
    assert token_backend_for(tenant_a.id) is token_backend_for(str(tenant_a.id))  # cached
    with tenant_scope(tenant_a):
        token = TenantAccessToken()
        assert token.get_token_backend() is token.token_backend is token_backend_for(tenant_a.id)
        assert token.get_token_backend() is not state.token_backend
        assert token.get_token_backend().algorithm == "HS256"


@pytest.mark.django_db
def test_tokens_exist_only_inside_a_tenant(tenant_a):
    with pytest.raises(NoTenantError):
        TenantAccessToken()
    token = mint(tenant_a, make_user(tenant_a), "access")
    with pytest.raises(NoTenantError):
        TenantAccessToken(token)
    with tenant_scope(tenant_a):
        assert TenantAccessToken(token)["token_type"] == "access"
        with pytest.raises(TokenError):
            TenantRefreshToken(token)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "not_authenticated"),
        ("Bearer", "bad_authorization_header"),
        ("Bearer a b", "bad_authorization_header"),
        ("Bearer not-a-jwt", "token_not_valid"),
    ],
)
def test_missing_or_malformed_credentials(tenant_a, header, code):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    assert_401(client_for(tenant_a).get("/whoami/", **extra), code)


def test_openapi_documents_bearer_auth_and_the_auth_endpoints():
    schema = SchemaGenerator(urlconf=__name__).get_schema(request=None, public=True)
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert {"jwtAuth": []} in schema["paths"]["/whoami/"]["get"]["security"]
    responses = {}
    for route in ("token/", "token/refresh/", "token/verify/", "logout/"):
        operation = schema["paths"][f"/api/v1/auth/{route}"]["post"]
        assert operation["tags"] == ["auth"]
        assert operation["summary"]
        assert {"jwtAuth": []} not in operation.get("security", [])
        responses[route] = operation["responses"]
    assert "401" in responses["token/refresh/"] and "401" in responses["logout/"]
    login_responses = responses["token/"]
    assert {"200", "400", "401", "429"} <= set(login_responses)
    # Every 401 is the one documented shape, its codes from the registry of error codes.
    assert login_responses["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error401Response"
    }
    assert "invalid_credentials" in login_responses["401"]["description"]
    assert set(responses["logout/"]) >= {"204", "401"}


@pytest.mark.django_db
@pytest.mark.urls("config.urls_tenant")
def test_the_tenant_urlconf_serves_the_auth_api(tenant_a):
    user = make_user(tenant_a)
    pair = login(client_for(tenant_a), user.email)
    assert pair.status_code == 200, pair.content
    verify = client_for(tenant_a).post(VERIFY_URL, {"token": pair.json()["access"]})
    assert verify.status_code == 200, verify.content
