"""Profile in a real browser, as a person uses it: set the timezone; create an API key, copy it from the
page and call the REST API with it, revoke it and see the same call refused; add a credential and
find its metadata listed and its secret nowhere in the page; a form mistake said in the page; delete
the credential. Without login the page is the local user's. Every request stays on 127.0.0.1 (the
``browser`` fixture); screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import PASSWORD, Browser, sign_up

SECRET = "sk-test-Profile-SECRET-8d1f0c"
PAGE_TEXT = """
() => {
  // Everything the page holds: its markup, every shadow root's, every input's value, Bokeh's models.
  const parts = [document.documentElement.outerHTML];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (typeof el.value === 'string') parts.push(el.value);
      if (el.shadowRoot) { parts.push(el.shadowRoot.innerHTML); walk(el.shadowRoot); }
    }
  };
  walk(document);
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    try { parts.push(JSON.stringify(doc.to_json(false))); } catch (e) { parts.push(String(e)); }
  }
  return parts.join('\\n');
}
"""


async def get(server: ServerProcess, path: str, credential: str) -> httpx.Response:
    """GET an API path as a script would, with a key (``wbk_``) or a login token."""
    name, value = (
        ("X-API-Key", credential)
        if credential.startswith("wbk_")
        else ("Authorization", f"Bearer {credential}")
    )
    async with httpx.AsyncClient(base_url=server.base_url + "/api/v1", timeout=30) as http:
        return await http.get(path, headers={name: value})


async def login_token(server: ServerProcess, email: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            server.base_url + "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def log_in(page: Any, server: ServerProcess, email: str) -> None:
    assert server.ui_url is not None
    await page.goto(server.ui_url + "/profile")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(server.ui_url + "/profile")


def key_row(page: Any, name: str) -> Any:
    return page.locator("tr.wb-row", has=page.locator('td[data-field="name"]', has_text=name))


async def test_api_key_timezone_and_credentials(ui_accounts_server: ServerProcess, browser: Browser) -> None:
    server = ui_accounts_server
    email = "profile-ada@example.com"
    sign_up(server, email)
    context = await browser.context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await browser.page(context)
    await log_in(page, server, email)
    await page.get_by_text("No API keys yet.").wait_for(timeout=TIMEOUT)
    await page.get_by_text("No credentials yet.").wait_for(timeout=TIMEOUT)
    assert await page.get_by_text(email).first.is_visible()
    await browser.shot(page, "profile")

    # Timezone: searched, chosen, saved; the account has it and the page shows it after a reload.
    zone = page.get_by_label("Timezone", exact=True)
    await zone.fill("")
    await zone.press_sequentially("madr")
    await page.get_by_text("Europe/Madrid", exact=True).click()
    await page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_text("Saved: timezone Europe/Madrid.").wait_for(timeout=TIMEOUT)
    token = await login_token(server, email)
    me = (await get(server, "/auth/me", token)).json()
    assert me["timezone"] == "Europe/Madrid" and me["name"] == "Ada Lovelace"

    # An API key: created with its scopes, shown once, copied, and working against the API.
    await page.get_by_label("Key name").fill("laptop script")
    await page.get_by_label("graphs:write", exact=False).check()
    await page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("Your new key")
    await page.get_by_text("it will not be shown again").wait_for(timeout=TIMEOUT)
    await shown.wait_for(timeout=TIMEOUT)
    key = ""
    for _ in range(50):
        key = await shown.input_value()
        if key:
            break
        await page.wait_for_timeout(100)
    assert key.startswith("wbk_") and len(key) > 40
    assert await shown.is_disabled()  # read-only
    await page.get_by_role("button", name="Copy").click()
    await page.get_by_role("button", name="Copied").wait_for(timeout=TIMEOUT)
    assert await page.evaluate("navigator.clipboard.readText()") == key
    row = key_row(page, "laptop script")
    await row.wait_for(timeout=TIMEOUT)
    assert await row.locator('td[data-field="prefix"]').inner_text() == key[:10] + "…"
    assert await row.locator('td[data-field="scopes"]').inner_text() == "graphs:read, graphs:write"
    await browser.shot(page, "profile-new-key")

    assert (await get(server, "/graphs", key)).status_code == 200
    await page.get_by_role("button", name="Done").click()
    await shown.wait_for(state="hidden", timeout=TIMEOUT)
    assert key not in await page.evaluate(PAGE_TEXT), "the key must not stay in the page once dismissed"

    # Revoked in the page (after a confirmation): the same call is refused at once.
    await row.locator('button[data-action="revoke"]').click()
    await page.get_by_text("Whatever uses it is refused").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "profile-revoke-confirm")
    await page.get_by_role("button", name="Yes, revoke").click()
    await row.locator('td[data-field="action"]', has_text="revoked").wait_for(timeout=TIMEOUT)
    assert (await get(server, "/graphs", key)).status_code == 401

    # A form mistake is said in the page, by field.
    await page.get_by_label("Provider").select_option(label="PostgreSQL database")
    await page.get_by_role("button", name="Add credential").click()
    await page.get_by_text("Host: give a host, or a connection URL").wait_for(timeout=TIMEOUT)

    # A credential: its metadata listed, its secret nowhere in the page.
    await page.get_by_label("Provider").select_option(label="OpenAI")
    await page.get_by_label("Title").fill("work account")
    await page.get_by_label("API key *").fill(SECRET)
    await page.get_by_role("button", name="Add credential").click()
    cred = page.locator("tr.wb-row", has=page.locator('td[data-field="title"]', has_text="work account"))
    await cred.wait_for(timeout=TIMEOUT)
    assert await cred.locator('td[data-field="type"]').inner_text() == "api_key"
    assert "openai" in await cred.locator('td[data-field="provider"]').inner_text()
    await page.get_by_text("Added the OpenAI credential").wait_for(timeout=TIMEOUT)
    assert await page.get_by_label("API key *").input_value() == ""
    assert SECRET not in await page.evaluate(PAGE_TEXT)
    await browser.shot(page, "profile-credential")
    listed = (await get(server, "/credentials", token)).json()
    assert [(c["provider"], c["title"]) for c in listed] == [("openai", "work account")]

    # After a reload: the timezone is there, times are in it, the secret is not.
    await page.reload()
    await cred.wait_for(timeout=TIMEOUT)
    assert await page.get_by_label("Timezone", exact=True).input_value() == "Europe/Madrid"
    assert SECRET not in await page.evaluate(PAGE_TEXT)

    # Deleted (after a confirmation).
    await cred.locator('button[data-action="delete"]').click()
    await page.get_by_role("button", name="Yes, delete").click()
    await page.get_by_text("No credentials yet.").wait_for(timeout=TIMEOUT)
    listed = (await get(server, "/credentials", token)).json()
    assert listed == []


async def test_local_mode_profile_is_the_local_user(ui_local_server: ServerProcess, browser: Browser) -> None:
    server = ui_local_server
    assert server.ui_url is not None
    context = await browser.context()
    page = await browser.page(context)
    await page.goto(server.ui_url + "/profile")
    await page.get_by_text("the local user").wait_for(timeout=TIMEOUT)
    await page.get_by_text("its API asks for no key").wait_for(timeout=TIMEOUT)
    await page.get_by_text("No API keys yet.").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "profile-local")
