"""A generated form in a real browser: a person fills a few fields of a tiny page served by Panel's
own server, and the values arrive in Python; a broken JSON text and a rule the page checks show as
red lines under their fields; a linked field cannot be edited. Screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import panel as pn
import pytest

from tests.support.browser import TIMEOUT
from tests.support.servers import free_port
from tests.ui.conftest import Browser
from workbench.ui.schema_form import CredentialChoice, SchemaForm

SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {"Level": {"enum": ["info", "warning", "error"], "type": "string"}},
    "properties": {
        "name": {"type": "string", "title": "Name", "description": "Who to greet."},
        "prompt": {"type": "string", "title": "Prompt", "description": "What to say."},
        "max_tokens": {
            "anyOf": [{"type": "integer"}, {"type": "null"}],
            "default": 256,
            "title": "Max Tokens",
        },
        "level": {"$ref": "#/$defs/Level", "description": "How loud."},
        "verbose": {"type": "boolean", "default": False, "title": "Verbose"},
        "tags": {"type": "array", "items": {"type": "string"}, "title": "Tags"},
        "rows": {"type": "array", "items": {"type": "object"}, "title": "Rows"},
        "credentials": {"default": None, "title": "Credentials"},
        "escape_html": {"type": "boolean", "advanced": True, "title": "Escape Html"},
    },
    "required": ["name", "level"],
}


class Page:
    """The served page's form, and what its on_change saw."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, Any]] = []
        self.form: SchemaForm | None = None

    def create(self) -> Any:
        def changed(field: str, value: Any) -> None:
            self.changes.append((field, value))
            assert self.form is not None
            # What the Builder does: validate on every edit and put problems on their pins.
            bad = self.form.values.get("name") == "nobody"
            self.form.set_errors({"name": "A name, please: not 'nobody'."} if bad else {})

        self.form = SchemaForm(
            SCHEMA,
            {"tags": ["red"]},
            credentials=[CredentialChoice(id="cred-1", provider="openai", title="Work key")],
            linked=["prompt"],
            on_change=changed,
            title="Text generator",
        )
        return pn.Column(self.form, width=460, styles={"border-right": "1px solid #ddd"})


@pytest.fixture
def served() -> Iterator[tuple[str, Page]]:
    port = free_port()
    page = Page()
    server = pn.serve(
        {"/": page.create},
        port=port,
        address="127.0.0.1",
        allow_websocket_origin=[f"127.0.0.1:{port}"],
        show=False,
        threaded=True,
        title="Schema form",
    )
    try:
        yield f"http://127.0.0.1:{port}/", page
    finally:
        server.stop()


async def test_a_person_fills_the_form_and_python_gets_the_values(
    served: tuple[str, Page], browser: Browser
) -> None:
    url, served_page = served
    context = await browser.context()
    page = await browser.page(context)
    await page.goto(url)
    name = page.get_by_label("Name", exact=True)
    await name.wait_for(timeout=TIMEOUT)
    await browser.shot(page, "schema-form")

    # The linked field is greyed out and says where its value comes from.
    assert await page.get_by_label("Prompt").is_disabled()
    linked = page.locator(".wb-field[data-field=prompt]")
    assert "wb-field-linked" in (await linked.get_attribute("class") or "")
    assert await linked.get_by_text("from a link").is_visible()
    # The default is a placeholder, not a value.
    assert await page.get_by_label("Max tokens").get_attribute("placeholder") == "256"

    await name.fill("nobody")
    await name.press("Tab")
    error = page.locator(".wb-field-error[data-field=name] .wb-error")
    await error.wait_for(timeout=TIMEOUT)
    assert await error.inner_text() == "A name, please: not 'nobody'."
    await name.fill("Ada")
    await name.press("Enter")
    await error.wait_for(state="hidden", timeout=TIMEOUT)

    await page.get_by_label("Max tokens").fill("512")
    await page.get_by_label("Max tokens").press("Tab")
    await page.get_by_label("Level").select_option(label="warning")
    await page.get_by_label("Verbose").check()
    await page.get_by_label("Credentials").select_option(label="Work key (openai)")
    await page.get_by_role("button", name="Add Tags item").click()
    await page.get_by_role("textbox", name="Tags item", exact=True).nth(1).fill("blue")
    await page.get_by_role("textbox", name="Tags item", exact=True).nth(1).press("Tab")
    await page.get_by_role("button", name="Remove Tags item").first.click()

    rows = page.get_by_label("Rows")
    await rows.fill('[\n  {"id": 1},\n  {"id": 2,}\n]')
    await rows.press("Tab")
    rows_error = page.locator(".wb-field-error[data-field=rows] .wb-error")
    await rows_error.wait_for(timeout=TIMEOUT)
    assert "line 3" in await rows_error.inner_text()
    await page.locator("summary", has_text="More").click()
    await page.get_by_label("Escape HTML").check()
    await page.get_by_label("Escape HTML").hover()
    await browser.shot(page, "schema-form-filled")

    await rows.fill('[{"id": 1}]')
    await rows.press("Tab")
    await rows_error.wait_for(state="hidden", timeout=TIMEOUT)
    await page.get_by_label("Level").hover()
    await page.locator(".wb-field[data-field=level] .wb-help").hover()
    await page.wait_for_timeout(300)
    await browser.shot(page, "schema-form-help")

    form = served_page.form
    assert form is not None
    assert form.values == {
        "name": "Ada",
        "max_tokens": 512,
        "level": "warning",
        "verbose": True,
        "credentials": "cred-1",
        "tags": ["blue"],
        "rows": [{"id": 1}],
        "escape_html": True,
    }
    assert ("name", "nobody") in served_page.changes
    assert served_page.changes[-1] == ("rows", [{"id": 1}])
    assert [f for f, _ in served_page.changes].count("tags") == 2  # added "blue", removed "red"
    await context.close()
