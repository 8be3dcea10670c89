"""The login session of the apps over plain HTTP (no browser): the cookie's attributes, its renewal
and its end, the login page's refusals, and the Host/Origin rules shared with the API."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from urllib.parse import urljoin

import httpx
import pytest
import websockets

from tests.support.servers import ServerProcess
from tests.ui.conftest import PASSWORD, sign_up
from workbench.ui.gate import UiSettings
from workbench.ui.login import safe_next
from workbench.ui.server import websocket_origins

EMAIL = "shell-cookie@example.com"


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    """Name -> the parsed ``Set-Cookie`` of each cookie the response sets."""
    out = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            out[name] = jar
    return out


def _session_payload(page: str) -> dict[str, object]:
    """What Bokeh put in the session token it embedded in the page (readable by any script)."""
    token = page.split('"token":"', 1)[1].split('"', 1)[0]
    head = token.split(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    packed = claims["__bk__zlib_"]
    return json.loads(zlib.decompress(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))))


@pytest.fixture(scope="module")
def ui(ui_accounts_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client of the UI server (no redirects followed), with an account to log in with."""
    sign_up(ui_accounts_server, EMAIL)
    assert ui_accounts_server.ui_url is not None
    with httpx.Client(base_url=ui_accounts_server.ui_url, timeout=30, follow_redirects=False) as client:
        yield client


def _get(ui: httpx.Client, path: str, cookies: dict[str, str], **kwargs: object) -> httpx.Response:
    """GET with these cookies only (a browser holding them)."""
    with httpx.Client(base_url=ui.base_url, timeout=30, follow_redirects=False, cookies=cookies) as browser:
        return browser.get(path, **kwargs)  # type: ignore[arg-type]


def _log_in(ui: httpx.Client, next_path: str = "/") -> httpx.Response:
    return ui.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "next": next_path},
        headers={"Origin": str(ui.base_url).rstrip("/")},
    )


def test_a_page_without_a_session_goes_to_the_login_page(ui: httpx.Client) -> None:
    response = _get(ui, "/monitor/run?id=abc", {"wb_session": "not-a-token"})
    assert response.status_code == 302
    target = urljoin(str(response.url), response.headers["location"])
    assert target == f"{str(ui.base_url).rstrip('/')}/login?next=%2Fmonitor%2Frun%3Fid%3Dabc"
    login = ui.get(target)
    assert login.status_code == 200 and 'name="password"' in login.text
    assert 'value="/monitor/run?id=abc"' in login.text
    assert "form-action 'self'" in login.headers["content-security-policy"]


def test_login_sets_an_httponly_lax_cookie_that_expires(ui: httpx.Client) -> None:
    response = _log_in(ui, "/monitor")
    assert response.status_code == 303 and response.headers["location"] == "/monitor"
    cookies = _set_cookies(response)
    session = cookies["wb_session"]["wb_session"]
    assert session["httponly"] and session["samesite"] == "Lax" and session["path"] == "/"
    assert not session["secure"], "Secure only over HTTPS"
    assert int(session["max-age"]) == 900, "the session lasts as long as its access token"
    refresh = cookies["wb_refresh"]["wb_refresh"]
    assert refresh["httponly"] and refresh["samesite"] == "Lax"
    page = _get(ui, "/", {"wb_session": session.value})
    assert page.status_code == 200
    assert session.value not in page.text
    assert _session_payload(page.text)["cookies"] == {}, "the session token must not carry the cookies"
    assert page.headers["x-frame-options"] == "DENY"


def test_wrong_password_and_bad_next_are_handled_in_the_page(ui: httpx.Client) -> None:
    origin = {"Origin": str(ui.base_url).rstrip("/")}
    wrong = ui.post("/login", data={"email": EMAIL, "password": "nope-nope"}, headers=origin)
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    empty = ui.post("/login", data={"email": "", "password": ""}, headers=origin)
    assert empty.status_code == 400 and "Enter your email and your password." in empty.text
    away = ui.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "next": "//evil.example/"}, headers=origin
    )
    assert away.status_code == 303 and away.headers["location"] == "/"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/chat?agent=1", "/chat?agent=1"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("chat", "/"),
        (None, "/"),
    ],
)
def test_next_stays_on_this_server(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_foreign_pages_and_hosts_are_refused(ui: httpx.Client, ui_accounts_server: ServerProcess) -> None:
    post = ui.post(
        "/login", data={"email": EMAIL, "password": PASSWORD}, headers={"Origin": "http://evil.example"}
    )
    assert post.status_code == 403 and "evil.example" in post.text
    assert "wb_session" not in _set_cookies(post)
    cross = ui.get("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    rebound = ui.get("/", headers={"Host": f"evil.example:{ui.base_url.port}"})
    assert rebound.status_code == 403


async def test_a_foreign_page_cannot_open_the_websocket(ui_accounts_server: ServerProcess) -> None:
    assert ui_accounts_server.ui_url is not None
    url = ui_accounts_server.ui_url.replace("http", "ws", 1) + "/ws"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, origin=websockets.Origin("http://evil.example")):
            pass
    assert refused.value.response.status_code == 403


def test_an_expired_session_is_renewed_once_from_the_refresh_cookie(ui: httpx.Client) -> None:
    refresh = _set_cookies(_log_in(ui))["wb_refresh"]["wb_refresh"].value
    stale = {"wb_session": "expired", "wb_refresh": refresh}
    first = _get(ui, "/", stale)
    assert first.status_code == 200
    renewed = _set_cookies(first)
    assert renewed["wb_refresh"]["wb_refresh"].value != refresh
    # Two tabs presenting the same refresh token at once get the same renewal, not a theft alarm.
    second = _get(ui, "/", stale)
    assert second.status_code == 200
    assert _set_cookies(second)["wb_session"]["wb_session"].value == renewed["wb_session"]["wb_session"].value
    new = {"wb_session": renewed["wb_session"]["wb_session"].value}
    assert _get(ui, "/", new).status_code == 200


def test_logout_ends_the_session(ui: httpx.Client) -> None:
    cookies = _set_cookies(_log_in(ui))
    refresh = cookies["wb_refresh"]["wb_refresh"].value
    out = _get(ui, "/logout", {"wb_refresh": refresh, "wb_session": "x"})
    assert out.status_code == 302 and out.headers["location"] == "/login"
    cleared = _set_cookies(out)
    for name in ("wb_session", "wb_refresh"):
        morsel = cleared[name][name]
        assert morsel.value == "" and parsedate_to_datetime(morsel["expires"]) < datetime.now(UTC)
        assert morsel["httponly"] and morsel["samesite"] == "Lax"
    # The refresh token was revoked: it cannot renew a session any more.
    again = _get(ui, "/", {"wb_refresh": refresh})
    assert again.status_code == 302


def test_local_mode_refuses_foreign_hosts_and_needs_no_login(ui_local_server: ServerProcess) -> None:
    assert ui_local_server.ui_url is not None
    with httpx.Client(base_url=ui_local_server.ui_url, timeout=30) as ui:
        assert ui.get("/").status_code == 200
        login = ui.get("/login", follow_redirects=False)
        assert login.status_code == 302 and login.headers["location"] == "/"
        port = ui.base_url.port
        assert ui.get("/", headers={"Host": f"localhost:{port}"}).status_code == 200
        refused = ui.get("/", headers={"Host": f"rebound.example:{port}"})
        assert refused.status_code == 403
        assert "loopback names only" in refused.text


def test_websocket_origins_are_this_server_only() -> None:
    assert websocket_origins(UiSettings(), "127.0.0.1", 8010) == ["127.0.0.1:8010", "localhost:8010"]
    public = UiSettings(
        auth="accounts", public_url="https://apps.example.org", allowed_hosts=("ui.internal",)
    )
    assert websocket_origins(public, "10.0.0.5", 8010) == [
        "10.0.0.5:8010",
        "apps.example.org",
        "ui.internal:8010",
    ]


def test_the_api_home_page_links_to_the_apps(ui_local_server: ServerProcess) -> None:
    page = httpx.get(ui_local_server.base_url + "/", timeout=30).text
    assert f'<a href="{ui_local_server.ui_url}/">Open the apps</a>' in page


async def test_a_websocket_handshake_never_rotates_the_refresh_token(
    ui: httpx.Client, ui_accounts_server: ServerProcess
) -> None:
    refresh = _set_cookies(_log_in(ui))["wb_refresh"]["wb_refresh"].value
    url = str(ui.base_url).rstrip("/").replace("http", "ws", 1) + "/ws"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers={"Cookie": f"wb_refresh={refresh}"}):
            pass
    assert refused.value.response.status_code == 403
    # The handshake's answer could not have stored new cookies, so it used nothing up.
    page = _get(ui, "/", {"wb_refresh": refresh})
    assert page.status_code == 200 and "wb_session" in _set_cookies(page)


def test_the_login_form_slows_down_guesses_as_the_api_does(
    ui: httpx.Client, ui_accounts_server: ServerProcess
) -> None:
    origin = {"Origin": str(ui.base_url).rstrip("/")}
    target = "guessed-in-the-page@example.com"
    sign_up(ui_accounts_server, target)
    api = ui_accounts_server.base_url + "/api/v1/auth/login"
    for i in range(3):  # guesses through the API and the page count together: one rule, one count
        assert (
            httpx.post(api, json={"email": target, "password": f"api guess {i}"}, timeout=30).status_code
            == 401
        )
    for i in range(2):
        page = ui.post("/login", data={"email": target, "password": f"page guess {i}"}, headers=origin)
        assert page.status_code == 401 and "Wrong email or password." in page.text
    slowed = ui.post("/login", data={"email": target, "password": PASSWORD}, headers=origin)
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
    assert "Too many failed logins: try again in 1 s." in slowed.text
    assert "wb_session" not in slowed.headers.get("set-cookie", "")
