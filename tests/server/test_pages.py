"""The first browser visit, over HTTP against real servers: the home page at ``/`` and the API docs
at ``/api/docs`` load everything from this server (no CDN), under policies that allow nothing else."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import pytest

from server.guard import DocsPage
from server.pages import SWAGGER_UI_PREFIX, docs_assets
from tests.support.servers import ServerProcess
from workbench import __version__

MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
SRC = re.compile(r"<(?:script|img)\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
LINK = re.compile(r"<link\b[^>]*\bhref=[\"']([^\"']+)[\"']", re.IGNORECASE)
ANCHOR = re.compile(r"<a\b[^>]*\bhref=[\"']([^\"']+)[\"']", re.IGNORECASE)


def directives(csp: str) -> dict[str, list[str]]:
    """A Content Security Policy as {directive: sources}."""
    return {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}


def assert_local_assets(server: ServerProcess, page: httpx.Response) -> list[str]:
    """Every script, image and stylesheet of the page is a path on this server, and answers 200
    with the content type of its kind. Returns the URLs."""
    urls = SRC.findall(page.text) + LINK.findall(page.text)
    assert urls, f"{page.url} loads no asset at all"
    with server.client() as c:
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{page.url} loads {url}: not local"
            r = c.get(url)
            assert r.status_code == 200, f"{url} (from {page.url}) -> {r.status_code}"
            suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1]
            assert r.headers["content-type"].startswith(MEDIA_TYPES[suffix]), (url, r.headers["content-type"])
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.content, f"{url} is empty"
    return urls


def assert_no_foreign_source(csp: str) -> None:
    """Nothing in the policy names a host: only keywords, hashes and ``data:``."""
    for directive, sources in directives(csp).items():
        for source in sources:
            assert source.startswith("'") or source == "data:", f"{directive} allows {source}: {csp}"


# ---- the home page ---------------------------------------------------------------------------------


def test_the_home_page_says_what_runs_and_where_to_go(local_server: ServerProcess) -> None:
    with local_server.client() as c:
        r = c.get("/")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        page = r.text
        assert "Agent Workbench" in page and __version__ in page
        # What is running: the local mode, the embedded database and its folder (the only visitor
        # of a no-login server is the local user).
        assert "single local user" in page
        assert "embedded PostgreSQL" in page
        assert str(local_server.home) in page
        # Where to go: the docs, the schema, health, the notebook and Python front doors, the apps.
        links = ANCHOR.findall(page)
        for path in ("/api/docs", "/api/openapi.json", "/api/v1/health"):
            assert path in links, f"no link to {path} on the home page: {links}"
            assert c.get(path).status_code == 200, path
        assert "make lab" in page and "%load_ext kernel_ext" in page
        assert "from workbench.client import connect" in page
        assert f'\n# or through this server:\nwb = connect("{local_server.base_url}")' in page
        assert "Panel apps" in page
        assert c.head("/").status_code == 200


def test_the_home_page_runs_no_script_and_loads_only_its_own_files(local_server: ServerProcess) -> None:
    r = httpx.get(local_server.base_url + "/", timeout=30)
    policy = directives(r.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"] and "script-src" not in policy
    assert policy["style-src"] == ["'self'"] and policy["img-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert_no_foreign_source(r.headers["content-security-policy"])
    assert "<script" not in r.text.lower() and "<style" not in r.text.lower() and " style=" not in r.text
    assert set(assert_local_assets(local_server, r)) == {"/static/favicon.svg", "/static/home.css"}
    assert r.headers["cache-control"] == "no-store"


def test_with_accounts_the_home_page_is_public_and_shows_nothing_private(
    accounts_server: ServerProcess,
) -> None:
    with accounts_server.client() as c:
        r = c.get("/")  # no credentials
        assert r.status_code == 200, r.text
        assert "accounts" in r.text and "X-API-Key" in r.text
        assert str(accounts_server.home) not in r.text and "Data folder" not in r.text
        assert 'api_key="wbk_...")' in r.text
        assert_local_assets(accounts_server, r)  # its assets are public too
        assert c.get("/api/v1/graphs").status_code == 401  # the API is not


# ---- the docs page ---------------------------------------------------------------------------------


def test_the_docs_page_loads_swagger_ui_from_this_server(local_server: ServerProcess) -> None:
    r = httpx.get(local_server.base_url + "/api/docs", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = assert_local_assets(local_server, r)
    assert f"/static/{SWAGGER_UI_PREFIX}/swagger-ui-bundle.js" in urls
    assert f"/static/{SWAGGER_UI_PREFIX}/swagger-ui.css" in urls
    assert "cdn" not in r.text.split("<body", 1)[0].lower()
    csp = r.headers["content-security-policy"]
    assert_no_foreign_source(csp)
    assert directives(csp)["script-src"][0] == "'self'"
    with local_server.client() as c:  # Swagger UI's files may be kept for good: their path is versioned
        bundle = c.get(f"/static/{SWAGGER_UI_PREFIX}/swagger-ui-bundle.js")
        assert "immutable" in bundle.headers["cache-control"]
        assert "SwaggerUIBundle" in bundle.text


def test_the_docs_assets_are_public_with_accounts(accounts_server: ServerProcess) -> None:
    r = httpx.get(accounts_server.base_url + "/api/docs", timeout=30)
    assert r.status_code == 200
    assert_local_assets(accounts_server, r)


def test_only_the_listed_files_are_served(local_server: ServerProcess) -> None:
    with local_server.client() as c:
        for path in (
            "/static/nope.css",
            "/static/%2e%2e/pages.py",
            "/static/..%2fconfig.py",
            f"/static/{SWAGGER_UI_PREFIX}/swagger-editor-bundle.js",  # in the package, not listed
            f"/static/{SWAGGER_UI_PREFIX}/../../../pyproject.toml",
            "/static/",
        ):
            r = c.get(path)
            assert r.status_code == 404, f"{path} -> {r.status_code}"
            assert r.headers["content-type"] == "application/json"
            assert r.json()["error"]["status"] == 404


def test_the_docs_page_refuses_assets_from_elsewhere() -> None:
    local = docs_assets()
    for key, url in (
        ("js_url", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"),
        ("css_url", "//cdn.example/swagger-ui.css"),
        ("favicon", "<link rel='icon' href='https://cdn.example/icon.png'>"),
    ):
        with pytest.raises(ValueError, match="loads nothing from outside this server"):
            DocsPage(path="/docs", **{**local, key: url})
