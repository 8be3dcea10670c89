"""The pages account mails link to, in a real browser, from the mails a real SMTP server received: a
verification link confirms the address only when its button is pressed; a reset link's form refuses
two different passwords and a short one in words, sets the new password, and leads to the apps' login
page, where it works; a used link says so and offers a new one, which arrives; the login page's
"Forgot your password?" leads there too. The token never appears in a request the browser makes
(it travels in the fragment) and is taken off the address bar; no request leaves 127.0.0.1; no
console error (a Content Security Policy violation would be one). Screenshots: /tmp/shots/ui/."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from tests.notify.peers import MailHandler, smtp_server
from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess, start_server, stop_server
from tests.ui.conftest import PASSWORD, Browser, sign_up

NEW_PASSWORD = "a brand new passphrase"


class Inbox:
    """What the plain SMTP server on 127.0.0.1 received."""

    def __init__(self, handler: MailHandler, port: int) -> None:
        self.handler = handler
        self.port = port

    def links(self, to: str, event: str, count: int = 1, timeout: float = 15) -> list[str]:
        """The page links of the first ``count`` mails of ``event`` to ``to`` (waiting for them)."""
        deadline = time.monotonic() + timeout
        while True:
            found = []
            for delivered in list(self.handler.messages):
                message = email.message_from_bytes(delivered.content, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if to in delivered.rcpt_tos and message["X-Workbench-Event"] == event:
                    text = message.get_body(("plain",))
                    assert text is not None
                    content = text.get_content().replace("\r\n", "\n")
                    link = re.search(r"^(http\S+#token=\S+)$", content, re.MULTILINE)
                    assert link, content
                    found.append(link.group(1))
            if len(found) >= count:
                return found
            assert time.monotonic() < deadline, f"{len(found)} of {count} {event} mails to {to}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    """A plain SMTP server (no TLS, no login: a relay on loopback)."""
    with smtp_server() as (handler, port):
        yield Inbox(handler, port)


@pytest.fixture(scope="module")
def mailing_server(tmp_path_factory: pytest.TempPathFactory, inbox: Inbox) -> Iterator[ServerProcess]:
    """``workbench serve --auth accounts`` with the web apps, mailing through ``inbox``."""
    server = start_server(
        tmp_path_factory.mktemp("pages-mail") / "home",
        "accounts",
        {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_SMTP_URL": f"smtp://127.0.0.1:{inbox.port}",
            "WORKBENCH_MAIL_FROM": "Agent Workbench <bot@workbench.example>",
            "WORKBENCH_DEV_MAIL_LOG": "",
        },
        ui=True,
    )
    yield server
    stop_server(server)


def verified(server: ServerProcess, address: str, password: str = PASSWORD) -> bool:
    api = server.base_url + "/api/v1"
    tokens = httpx.post(api + "/auth/login", json={"email": address, "password": password}, timeout=30)
    assert tokens.status_code == 200, tokens.text
    me = httpx.get(
        api + "/auth/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}, timeout=30
    )
    return bool(me.json()["email_verified"])


def can_log_in(server: ServerProcess, address: str, password: str) -> bool:
    url = server.base_url + "/api/v1/auth/login"
    return httpx.post(url, json={"email": address, "password": password}, timeout=30).status_code == 200


async def test_verify_then_reset_from_the_mails(
    mailing_server: ServerProcess, inbox: Inbox, browser: Browser
) -> None:
    server = mailing_server
    assert server.ui_url is not None
    address = f"pages-{time.time_ns()}@example.com"
    sign_up(server, address)
    [verify_link] = inbox.links(address, "verify_email")
    verify_token = verify_link.rpartition("#token=")[2]
    assert verify_link == f"{server.base_url}/verify-email#token={verify_token}"

    context = await browser.context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    console: list[str] = []
    page = await browser.page(context)
    page.on("console", lambda m: console.append(f"{page.url}: {m.text}") if m.type == "error" else None)

    # The verification link: a button, nothing confirmed by opening the page.
    response = await page.goto(verify_link)
    assert response is not None and response.headers["referrer-policy"] == "no-referrer"
    button = page.get_by_role("button", name="Confirm my address")
    await button.wait_for(timeout=TIMEOUT)
    assert page.url == f"{server.base_url}/verify-email"  # the token is off the address bar
    assert not verified(server, address)
    await browser.shot(page, "account-verify")
    await button.click()
    await page.get_by_text(f"Your address is confirmed: {address}.").wait_for(timeout=TIMEOUT)
    assert verified(server, address)
    await browser.shot(page, "account-verify-done")

    # The same link again: used, said in words.
    await page.goto(verify_link)
    await page.get_by_role("button", name="Confirm my address").click()
    await page.get_by_text("This link has expired or was already used.").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "account-verify-used")

    # "Forgot your password?" on the apps' login page leads to the reset page, which asks for a link.
    await page.goto(server.ui_url + "/login")
    await browser.shot(page, "account-login-forgot")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.wait_for_url(f"{server.base_url}/reset-password")
    await page.get_by_text("This link is incomplete").wait_for(timeout=TIMEOUT)
    await page.get_by_label("Your account's email address").fill(address)
    await page.get_by_role("button", name="Send me a new link").click()
    await page.get_by_text("If the address has an account, a new link is on its way").wait_for(
        timeout=TIMEOUT
    )
    await browser.shot(page, "account-reset-request")
    [reset_link] = inbox.links(address, "password_reset")
    reset_token = reset_link.rpartition("#token=")[2]

    # The reset link: the form refuses two different passwords and a short one, then sets it.
    await page.goto(reset_link)
    new, again = page.get_by_label("New password", exact=True), page.get_by_label("The same password again")
    await new.wait_for(timeout=TIMEOUT)
    assert page.url == f"{server.base_url}/reset-password"
    await new.fill(NEW_PASSWORD)
    await again.fill(NEW_PASSWORD + "!")
    submit = page.get_by_role("button", name="Set the new password")
    await submit.click()
    await page.get_by_text("The two passwords differ").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "account-reset-mismatch")
    await new.fill("short")
    await again.fill("short")
    await submit.click()
    await page.get_by_text("The password is too short: at least 8 characters.").wait_for(timeout=TIMEOUT)
    assert can_log_in(server, address, PASSWORD)  # nothing changed yet
    await new.fill(NEW_PASSWORD)
    await again.fill(NEW_PASSWORD)
    await submit.click()
    await page.get_by_text("Your password is changed.").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "account-reset-done")
    assert not can_log_in(server, address, PASSWORD)

    # On to the apps' login page, where the new password works.
    await page.get_by_role("link", name="Log in with the new password").click()
    await page.wait_for_url(server.ui_url + "/login")
    await page.get_by_label("Email").fill(address)
    await page.get_by_label("Password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(server.ui_url + "/")

    # The reset link once more: used; a new one is offered, and comes.
    await page.goto(reset_link)
    await new.fill("another good passphrase")
    await again.fill("another good passphrase")
    await submit.click()
    await page.get_by_text("This link has expired or was already used").wait_for(timeout=TIMEOUT)
    await page.get_by_label("Your account's email address").fill(address)
    await page.get_by_role("button", name="Send me a new link").click()
    await page.get_by_text("If the address has an account, a new link is on its way").wait_for(
        timeout=TIMEOUT
    )
    await browser.shot(page, "account-reset-used")
    assert len(inbox.links(address, "password_reset", 2)) == 2
    assert can_log_in(server, address, NEW_PASSWORD)
    await context.close()

    for token in (verify_token, reset_token):
        assert not [url for url in requests if token in url], "a token went to a server in a URL"
    assert any(url.endswith("/api/v1/auth/password-reset/confirm") for url in requests)
    # Chromium logs each refused call (the used links' 401s) as an error; anything else is a fault.
    refused = "Failed to load resource: the server responded with a status of 401"
    assert len([line for line in console if refused in line]) == 2, console
    faults = [line for line in console if refused not in line]
    assert not faults, f"console errors (CSP violations show here): {faults}"


async def test_the_page_says_what_went_wrong_when_the_server_is_gone(
    mailing_server: ServerProcess, browser: Browser
) -> None:
    """A link opened, then the server unreachable at submit time: said in words, nothing raw."""
    context = await browser.context()
    page = await browser.page(context)
    await page.goto(mailing_server.base_url + "/reset-password#token=not-a-real-token")

    async def gone(route: Any) -> None:
        await route.abort("connectionrefused")

    await page.route("**/api/v1/auth/password-reset/confirm", gone)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("The same password again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set the new password").click()
    await page.get_by_text("The server cannot be reached right now").wait_for(timeout=TIMEOUT)
    await page.unroute("**/api/v1/auth/password-reset/confirm")
    await page.get_by_role("button", name="Set the new password").click()
    await page.get_by_text("This link has expired or was already used").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "account-reset-unknown-token")
    await context.close()
