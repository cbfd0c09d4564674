"""In chromium: the tenant admin's sign-in asks an owner with MFA on for the code of their
authenticator app, refuses a missing or wrong one, and lets them in with the right one."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from atrium.platform.accounts.models import User
from atrium.platform.mfa import services as mfa
from atrium.tenants.context import tenant_scope
from tests.isolation.fuzz_support import PASSWORD


def steady_step() -> None:
    """Well inside a 30 s step, so that the code computed here is the server's too."""
    while not 2 <= time.time() % 30 <= 20:
        time.sleep(0.5)


@pytest.fixture(scope="module")
def mfa_secret(tenants, django_db_blocker) -> str:
    """MFA on for the home tenant's owner (committed); set up before the browser starts,
    as Django refuses database work while Playwright's loop runs."""
    home, _ = tenants
    steady_step()
    with django_db_blocker.unblock(), tenant_scope(home.tenant):
        owner = User.objects.get(pk=home.owner_id)
        uri = mfa.totp_enrolment_start(user=owner).otpauth_uri
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        mfa.totp_enrolment_confirm(user=owner, code=pyotp.TOTP(secret).at(time.time() - 30))
    return secret


def sign_in(page, server, tenant, code: str | None) -> None:
    page.goto(server.url(tenant.host, "/admin/"))
    page.fill("input[name=username]", f"owner@{tenant.slug}.test")
    page.fill("input[name=password]", PASSWORD)
    if code is not None:
        page.fill("input[name=code]", code)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_admin_login_with_mfa_asks_for_the_code(mfa_secret, page, server, tenants, artifacts):
    home, other = tenants
    page.goto(server.url(home.host, "/admin/login/"))
    assert page.locator("label[for=id_code]").inner_text().startswith("Authentication code")
    page.screenshot(path=str(artifacts / "admin-mfa-login.png"), full_page=True)

    sign_in(page, server, home, None)
    assert urlsplit(page.url).path == "/admin/login/"
    assert "multi-factor authentication" in page.locator(".errornote").inner_text()

    sign_in(page, server, home, "000000")
    assert urlsplit(page.url).path == "/admin/login/"
    assert "That code is not valid" in page.locator(".errornote").inner_text()

    steady_step()
    code = pyotp.TOTP(mfa_secret).now()
    sign_in(page, server, home, code)
    page.screenshot(path=str(artifacts / "admin-mfa-signed-in.png"), full_page=True)
    assert urlsplit(page.url).path == "/admin/", page.locator("#content").inner_text()[:300]
    assert home.tenant.name in page.locator("#site-name").inner_text()

    # The same code again (a second browser, a replay): refused.
    page.context.clear_cookies()
    sign_in(page, server, home, code)
    assert urlsplit(page.url).path == "/admin/login/"
    assert "That code is not valid" in page.locator(".errornote").inner_text()

    # The other tenant's owner has no MFA: the password alone signs in there.
    page.context.clear_cookies()
    sign_in(page, server, other, None)
    assert urlsplit(page.url).path == "/admin/"
