"""In chromium: a tenant's admin shows that tenant's products only, refuses the other
tenant's staff, and the Swagger UI renders offline from the server's own assets."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.isolation.fuzz_support import PASSWORD


def product_names(tenant) -> list[str]:
    return [f"Product {tenant.slug} {n}" for n in range(1, 4)]


def admin_login(page, server, tenant, email: str) -> None:
    page.goto(server.url(tenant.host, "/admin/"))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_tenant_admin_sees_its_products_and_not_the_other_tenants(page, server, tenants, artifacts):
    home, other = tenants
    admin_login(page, server, home, f"owner@{home.slug}.test")
    assert urlsplit(page.url).path == "/admin/", page.content()[:500]
    page.goto(server.url(home.host, "/admin/catalog/product/"))
    page.screenshot(path=str(artifacts / "admin-products.png"), full_page=True)
    listing = page.locator("#result_list").inner_text()
    for name in product_names(home):
        assert name in listing
    body = page.content()
    for name in product_names(other):
        assert name not in body
    assert other.slug not in body
    # The session belongs to this host: the other tenant's admin asks for a login.
    page.goto(server.url(other.host, "/admin/catalog/product/"))
    assert urlsplit(page.url).path == "/admin/login/"
    assert "Product" not in page.locator("#content").inner_text()


def test_tenant_admin_login_is_refused_on_the_other_tenants_admin(page, server, tenants, artifacts):
    home, other = tenants
    admin_login(page, server, other, f"owner@{home.slug}.test")
    page.screenshot(path=str(artifacts / "admin-login-refused.png"), full_page=True)
    assert urlsplit(page.url).path == "/admin/login/"
    assert "Please enter the correct" in page.locator(".errornote").inner_text()
    page.goto(server.url(other.host, "/admin/catalog/product/"))
    assert urlsplit(page.url).path == "/admin/login/"


def test_swagger_ui_renders_offline_and_lists_the_catalog(page, server, tenants, artifacts):
    home, _ = tenants
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server.url(home.host, "/api/docs/"))
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    page.screenshot(path=str(artifacts / "swagger-ui.png"), full_page=True)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    for path in (
        "/api/v1/catalog/products/",
        "/api/v1/catalog/products/{id}/",
        "/api/v1/catalog/categories/",
        "/api/v1/catalog/exports/",
    ):
        assert any(shown.replace("\u200b", "") == path for shown in paths), paths
    # Everything came from this server (sidecar assets through WhiteNoise), nothing failed.
    origins = {urlsplit(url).netloc for url in requested if url.startswith("http")}
    assert origins == {f"{home.host}:{server.port}"}, origins
    assert failed == []
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in requested)


def test_redoc_renders_offline_from_the_servers_own_assets(page, server, tenants, artifacts):
    home, _ = tenants
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server.url(home.host, "/api/redoc/"))
    # ReDoc fetched the schema and rendered the API's title and its operations.
    title = page.wait_for_selector("h1", timeout=30_000)
    assert "Atrium tenant API" in title.inner_text()
    page.locator("h2", has_text="Which tenant this host serves").wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "redoc.png"))
    body = page.locator("body").inner_text()
    for tag in ("auth", "catalog", "jobs", "users"):
        assert tag in body.split("\n"), tag
    # Every request (script, schema, fonts, images) stayed on the server's origin.
    origins = {urlsplit(url).netloc for url in requested if not url.startswith(("data:", "blob:"))}
    assert origins == {f"{home.host}:{server.port}"}, requested
    assert failed == []
    assert any(url.endswith("/api/redoc/redoc.standalone.js") for url in requested)
    # The whole rendered spec is too tall for the fixture's full-page end screenshot.
    page.goto("about:blank")
