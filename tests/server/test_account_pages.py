"""The pages account mails link to (``/reset-password``, ``/verify-email``), over HTTP against real
servers: they load only this server's files under a policy allowing nothing else (one script, no
inline code, no form submission), send no referrer and are not cached; opening one, with or without a
token, uses nothing up (mail scanners open links); in the no-login mode they say there are no
accounts. The browser side (the forms themselves) is tests/ui/test_account_pages_browser.py."""

from __future__ import annotations

import re

import httpx
import pytest

from server.account_pages import ACCOUNT_CSP
from tests.server.api_support import PASSWORD, api, mailed_token, signup
from tests.server.test_pages import assert_local_assets, directives
from tests.support.servers import ServerProcess

PAGES = ("/reset-password", "/verify-email")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_load_only_their_own_files_under_a_strict_policy(
    configured_server: ServerProcess, path: str
) -> None:
    r = httpx.get(configured_server.base_url + path, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == ACCOUNT_CSP
    policy = directives(ACCOUNT_CSP)
    assert policy["script-src"] == ["'self'"] and policy["form-action"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"] and policy["default-src"] == ["'none'"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store" and r.headers["x-robots-tag"] == "noindex"
    assert r.headers["x-frame-options"] == "DENY"
    urls = assert_local_assets(configured_server, r)
    assert "/static/account.js" in urls and "/static/account.css" in urls
    assert not INLINE_SCRIPT.search(r.text) and " style=" not in r.text
    assert "noscript" in r.text  # without JavaScript: the API call to make instead
    assert httpx.head(configured_server.base_url + path, timeout=30).status_code == 200
    schema = httpx.get(configured_server.base_url + "/api/openapi.json", timeout=30).json()
    assert path not in schema["paths"]


def test_opening_a_page_uses_no_token(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "pages")
    try:
        verify_token = mailed_token(configured_server, user.email, "verify")
        for url in (f"/verify-email?token={verify_token}", "/verify-email"):
            page = httpx.get(configured_server.base_url + url, timeout=30)
            assert page.status_code == 200 and verify_token not in page.text
        assert user.client.get("/auth/me").json()["email_verified"] is False
        with api(configured_server) as anonymous:
            assert anonymous.post("/auth/verify-email", json={"token": verify_token}).status_code == 200
            assert anonymous.post("/auth/password-reset", json={"email": user.email}).status_code == 202
        assert user.client.get("/auth/me").json()["email_verified"] is True

        reset_token = mailed_token(configured_server, user.email, "reset")
        page = httpx.get(f"{configured_server.base_url}/reset-password?token={reset_token}", timeout=30)
        assert page.status_code == 200 and reset_token not in page.text
        assert 'data-confirm="/api/v1/auth/password-reset/confirm"' in page.text
        assert 'data-min-password="8"' in page.text
        with api(configured_server) as anonymous:
            done = anonymous.post(
                "/auth/password-reset/confirm", json={"token": reset_token, "password": "page-tested words"}
            )
            assert done.status_code == 200, done.text
            assert (
                anonymous.post(
                    "/auth/login", json={"email": user.email, "password": "page-tested words"}
                ).status_code
                == 200
            )
            assert (
                anonymous.post("/auth/login", json={"email": user.email, "password": PASSWORD}).status_code
                == 401
            )
    finally:
        user.close()


@pytest.mark.parametrize("path", PAGES)
def test_without_accounts_the_pages_say_there_are_none(local_server: ServerProcess, path: str) -> None:
    r = httpx.get(local_server.base_url + path, timeout=30)
    assert r.status_code == 200
    assert "runs without accounts" in r.text and "data-kind" not in r.text and "<form" not in r.text
    assert r.headers["content-security-policy"] == ACCOUNT_CSP
