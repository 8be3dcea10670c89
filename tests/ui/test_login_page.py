"""The login page on its own (a Tornado app with the login handler, no platform behind it): what it
shows when OAuth providers are configured, and that it escapes what comes from the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application

from workbench.app import Workbench
from workbench.ui.gate import Gate, UiSettings
from workbench.ui.login import LoginHandler
from workbench.ui.session import SessionResolver


@pytest.fixture
async def login_page() -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server with only ``/login``, OAuth with GitHub and Google configured."""
    settings = UiSettings(
        auth="accounts", api_url="http://127.0.0.1:8006", oauth_providers=("github", "google")
    )
    nobody = cast(Workbench, None)  # showing the form asks the platform nothing
    gate = Gate(settings, SessionResolver(nobody, local=False), "127.0.0.1")
    sock, port = bind_unused_port()
    server = HTTPServer(Application([(r"/login", LoginHandler, {"gate": gate})]))
    server.add_sockets([sock])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.stop()


async def test_the_oauth_buttons_lead_to_the_api_and_back(login_page: httpx.AsyncClient) -> None:
    page = (await login_page.get("/login", params={"next": "/monitor"})).text
    back = "http%3A%2F%2F127.0.0.1%3A" + str(login_page.base_url.port) + "%2Fmonitor"
    assert f'href="http://127.0.0.1:8006/api/v1/auth/oauth/github/login?next={back}"' in page
    assert ">Log in with GitHub</a>" in page and ">Log in with Google</a>" in page


async def test_the_page_escapes_what_the_request_brings(login_page: httpx.AsyncClient) -> None:
    page = (await login_page.get("/login", params={"next": '/"><script>alert(1)</script>'})).text
    assert "<script>" not in page
    assert 'value="/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
