"""The admins: staff of one tenant never get into another tenant's admin or the platform's,
their cookies are host-only, and a session of one host is worth nothing on another.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import pytest
from django.test import Client

from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import public_scope, tenant_scope
from tests.fixtures import OWNER_PASSWORD

from .conftest import asgi_request, run_async, tenant_rows

OPERATOR = ("ops@atrium.test", "Operator-Password-99")
HOSTS = ("alpha.localhost", "beta.localhost", "localhost")


def login(host: str, email: str, password: str) -> tuple[Client, object]:
    client = Client(HTTP_HOST=host)
    response = client.post("/admin/login/?next=/admin/", {"username": email, "password": password})
    return client, response


def has_admin(client: Client) -> bool:
    index = client.get("/admin/")
    assert index.status_code in (200, 302), index.status_code
    return index.status_code == 200


@pytest.fixture
def staff(db, tenant_a, tenant_b):
    """Alpha's owner, an admin and a superuser-flagged owner of alpha; an operator."""
    with tenant_scope(tenant_a):
        admin = User(email="admin@alpha.test")
        admin.apply_role(Role.ADMIN)
        admin.set_password(OWNER_PASSWORD)
        admin.save()
        root = User(email="root@alpha.test", is_superuser=True)
        root.apply_role(Role.OWNER)
        root.set_password(OWNER_PASSWORD)
        root.save()
    with public_scope():
        User.objects.create_superuser(email=OPERATOR[0], password=OPERATOR[1])
    return ["owner@alpha.test", "admin@alpha.test", "root@alpha.test"]


@pytest.mark.django_db
def test_alpha_staff_log_into_alpha_only(staff):
    for email in staff:
        client, response = login("alpha.localhost", email, OWNER_PASSWORD)
        assert response.status_code == 302 and has_admin(client), email
        for host in ("beta.localhost", "localhost"):
            client, response = login(host, email, OWNER_PASSWORD)
            assert response.status_code == 200, (email, host)  # the form again
            assert b"Please enter the correct" in response.content
            assert not has_admin(client), (email, host)
    # The operator, the other way round.
    for host in ("alpha.localhost", "beta.localhost"):
        client, response = login(host, *OPERATOR)
        assert response.status_code == 200 and not has_admin(client), host


@pytest.mark.django_db
def test_a_session_is_worth_nothing_on_another_host(staff):
    sessions = {}
    for host, (email, password) in {
        "alpha.localhost": ("owner@alpha.test", OWNER_PASSWORD),
        "localhost": OPERATOR,
    }.items():
        _, response = login(host, email, password)
        assert response.status_code == 302
        cookie = response.cookies["sessionid"]
        assert cookie["domain"] == "", "a Domain attribute would send it to other hosts"
        assert "domain=" not in cookie.output().lower()
        sessions[host] = cookie.value
    for origin, value in sessions.items():
        for host in HOSTS:
            if host == origin:
                continue
            stolen = Client(HTTP_HOST=host)
            stolen.cookies["sessionid"] = value
            assert not has_admin(stolen), (origin, host)
            # Nor does a session authenticate the API anywhere (tokens only).
            if host != "localhost":
                assert stolen.get("/api/v1/users/me/").status_code == 401


@pytest.mark.django_db
def test_beta_object_ids_in_alpha_s_admin_show_and_change_nothing(staff, beta):
    client, _ = login("alpha.localhost", "owner@alpha.test", OWNER_PASSWORD)
    before = tenant_rows(beta.tenant)
    targets = (
        ("accounts/user", beta.member.pk),
        ("accounts/user", beta.owner.pk),
        ("catalog/product", beta.product.pk),
        ("catalog/category", beta.category.pk),
        ("catalog/review", beta.review.pk),
    )
    # Alpha's lists hold nothing of beta (read before the attacks, whose "does not exist"
    # messages echo the id that was asked for).
    for model, pk in targets:
        listing = client.get(f"/admin/{model}/?all=")
        assert listing.status_code == 200, model
        assert str(pk).encode() not in listing.content, model
        assert b"beta" not in listing.content.lower(), model
    for model, pk in targets:
        page = client.get(f"/admin/{model}/{pk}/change/")
        assert page.status_code == 302, (model, page.status_code)  # "does not exist"
        assert not page["Location"].endswith("/change/")
        posted = client.post(
            f"/admin/{model}/{pk}/change/",
            {"name": "Pwned", "email": "pwned@beta.test", "role": "owner", "is_active": "on"},
        )
        assert posted.status_code == 302, (model, posted.status_code)
        assert client.get(f"/admin/{model}/{pk}/delete/").status_code in (302, 403)
    assert tenant_rows(beta.tenant) == before


def _set_cookies(response) -> dict[str, str]:
    """Raw ``Set-Cookie`` lines by cookie name, as the browser receives them."""
    lines = {}
    for line in response.header("set-cookie"):
        name = line.split("=", 1)[0]
        lines[name] = line
    return lines


async def _admin_login(host: str, email: str, password: str):
    form = await asgi_request("GET", "/admin/login/", host=host)
    assert form.status == 200
    cookies = _set_cookies(form)
    csrf_cookie = SimpleCookie(cookies["csrftoken"])["csrftoken"].value
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body)[1].decode()
    body = f"csrfmiddlewaretoken={token}&username={email}&password={password}&next=/admin/"
    response = await asgi_request(
        "POST",
        "/admin/login/",
        host=host,
        body=body.encode(),
        headers=[
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", f"csrftoken={csrf_cookie}"),
            ("referer", f"http://{host}/admin/login/"),
        ],
    )
    return cookies, response


def test_cookies_are_host_only_as_the_real_app_sends_them(live_db, tenant_a):
    csrf_cookies, response = run_async(
        _admin_login, "alpha.localhost", "owner@alpha.test", OWNER_PASSWORD
    )
    assert response.status == 302, response.body[:500]
    cookies = {**csrf_cookies, **_set_cookies(response)}
    assert {"csrftoken", "sessionid"} <= set(cookies)
    for line in cookies.values():
        attributes = [part.strip().split("=", 1)[0].lower() for part in line.split(";")[1:]]
        assert "domain" not in attributes, line
        assert "path" in attributes, line
    assert "httponly" in cookies["sessionid"].lower()
    session = SimpleCookie(cookies["sessionid"])["sessionid"].value
    # Presented to beta's admin through the same app, alpha's session opens nothing.
    index = run_async(
        asgi_request,
        "GET",
        "/admin/",
        host="beta.localhost",
        headers=[("cookie", f"sessionid={session}")],
    )
    assert index.status == 302 and "/admin/login/" in index.header("location")[0]
    own = run_async(
        asgi_request,
        "GET",
        "/admin/",
        host="alpha.localhost",
        headers=[("cookie", f"sessionid={session}")],
    )
    assert own.status == 200  # control: the session is good on its own host
    with tenant_scope(tenant_a):
        from django.contrib.sessions.models import Session

        Session.objects.filter(session_key=session).delete()
