"""A real browser (Debian's chromium, driven by Playwright) against a live server.

The browser is never downloaded: Playwright drives ``/usr/bin/chromium`` (``make test``
installs it with apt when it is missing). Without it the browser tests fail, they do not
skip. Screenshots go to ``test-artifacts/browser/`` in the repository (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.driver import Server
from tests.fixtures import REPO_ROOT
from tests.isolation.fuzz_support import SeededTenant, seeded_pair

CHROMIUM = Path(os.environ.get("ATRIUM_CHROMIUM", "/usr/bin/chromium"))
# As root and without a network: no sandbox (it needs user namespaces), nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser(server):
    """Started after the server and its tenants, stopped before them: Playwright's sync API
    runs an event loop in this thread, and Django refuses database work while one runs."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium "
            "(make test installs it: apt-get install -y chromium), or ATRIUM_CHROMIUM=<path>."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, artifacts, request):
    """A fresh browser context (no cookies) per test; a screenshot of the last page after."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    page.screenshot(path=str(artifacts / f"{request.node.name}-end.png"), full_page=True)
    context.close()


@pytest.fixture(scope="module")
def tenants(django_db_setup, django_db_blocker) -> Iterator[tuple[SeededTenant, SeededTenant]]:
    """Two committed tenants with catalogs (owners are staff: they may use the admin)."""
    with django_db_blocker.unblock(), seeded_pair("br", plan="free") as pair:
        yield pair


@pytest.fixture(scope="module")
def server(tenants) -> Iterator[Server]:
    with Server(log_level="warning") as live:
        yield live
