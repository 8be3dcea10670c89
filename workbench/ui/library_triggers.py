"""The Library's webhook triggers of one agent: the URLs that start it (name, URL, how calls prove
themselves, rate limit, calls so far and the last one), a new trigger (its secret shown this once,
with a Copy button and a ready-to-paste ``curl`` example), a secret rotated, a trigger deleted (each
asked first).

The data and every action are :class:`TriggerStore`: the trigger service as the logged-in user (the
rules, scopes and refusals of ``/api/v1/triggers``); no rule lives here. The secret goes from the
service to this page's field once and is never read again; the Copy buttons copy it in the browser.
"""

from __future__ import annotations

import html
import json
import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from workbench.errors import InvalidFields
from workbench.services.trigger_mapping import path_parts
from workbench.services.trigger_signing import (
    GITHUB_DELIVERY_HEADER,
    GITHUB_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from workbench.services.triggers import DEFAULT_RATE, MAX_RATE, IssuedSecret, TriggerService, hook_path
from workbench.store.database import reaching_database
from workbench.store.triggers import TriggerRecord
from workbench.ui.action_table import ActionTable, action_button
from workbench.ui.context import UiContext
from workbench.ui.monitor_data import describe_error, run_href, short_id
from workbench.ui.sections import COPY_JS, KEY_FIELD_CSS, ConfirmBar, on_page
from workbench.ui.tables import html_table

AUTH_CHOICES = {
    "HMAC signature with a timestamp (recommended)": "hmac",
    "GitHub webhook signature (X-Hub-Signature-256)": "github",
    "Bearer secret (Authorization header)": "bearer",
}
"""How calls prove they hold the secret, as the form offers it."""
AUTH_WORDS = {"hmac": "HMAC signature", "github": "GitHub signature", "bearer": "bearer secret"}
EXAMPLE_CSS = (
    ":host textarea:disabled { color: #111827; opacity: 1; background: #f9fafb; font-family: monospace; "
    "font-size: 0.85rem; line-height: 1.45; }"
)
"""The curl example's read-only box: readable, monospace."""
BOX_STYLE = {
    "background": "#ecfdf5",
    "border": "1px solid #6ee7b7",
    "border-radius": "6px",
    "padding": "0 10px 8px",
}
FORM_STYLE = {"border": "1px solid #d1d5db", "border-radius": "6px", "padding": "0.4rem"}


class TriggerStore:
    """The triggers of the logged-in user, through the trigger service (as ``/api/v1/triggers``)."""

    def __init__(self, ctx: UiContext, service: TriggerService | None = None) -> None:
        self.ctx = ctx
        self._service = service

    @property
    def service(self) -> TriggerService:
        """The trigger service, as the API builds it."""
        if self._service is None:
            self._service = TriggerService.of(self.ctx.wb)
        return self._service

    @property
    def root(self) -> str:
        """Where senders reach the API (``WORKBENCH_PUBLIC_URL``, else the server's address): the
        triggers' URLs start with it."""
        root = getattr(self.ctx.wb, "api_url", None) or self.ctx.links.get("API docs", "").removesuffix(
            "/api/docs"
        )
        return (root or "http://127.0.0.1:8006").rstrip("/")

    def url(self, trigger_id: str) -> str:
        """The URL a sender POSTs to."""
        return self.root + hook_path(trigger_id)

    async def triggers(self, graph_id: str) -> list[TriggerRecord]:
        """The agent's triggers, newest first."""
        async with reaching_database("read the agent's triggers"):
            found, _ = await self.service.list(self.ctx.user_id, graph_id=graph_id, limit=200)
        return found

    async def create(self, fields: Mapping[str, Any]) -> IssuedSecret:
        """A new trigger; its secret comes back this once. TriggerInputError names each bad field."""
        async with reaching_database("make the trigger"):
            return await self.service.create(self.ctx.principal, fields)

    async def rotate(self, trigger_id: str) -> IssuedSecret:
        """A new secret (shown this once); the old one stops working at once."""
        async with reaching_database("rotate the trigger's secret"):
            return await self.service.rotate_secret(trigger_id, self.ctx.principal)

    async def delete(self, trigger_id: str) -> None:
        """Delete a trigger: its URL answers 404 from now on."""
        async with reaching_database("delete the trigger"):
            await self.service.delete(trigger_id, self.ctx.principal)


def _quote_json(doc: Any) -> str:
    return shlex.quote(json.dumps(doc, ensure_ascii=False))


def curl_example(url: str, secret: str, auth_mode: str, payload: Any) -> str:
    """A shell snippet that calls the trigger once with ``payload``, signed as its mode wants (bash,
    ``openssl`` and ``curl``); pasted into a terminal, it starts a run."""
    body = f"body={_quote_json(payload)}"
    key = shlex.quote(secret)
    post = f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json'"
    if auth_mode == "bearer":
        return f'{body}\n{post} \\\n  -H "Authorization: Bearer {secret}" \\\n  --data-binary "$body"'
    if auth_mode == "github":
        return (
            f"{body}\n"
            f"sig=$(printf '%s' \"$body\" | openssl dgst -sha256 -hmac {key} | sed 's/^.* //')\n"
            f"{post} \\\n"
            f'  -H "{GITHUB_SIGNATURE_HEADER}: sha256=$sig" \\\n'
            f'  -H "{GITHUB_DELIVERY_HEADER}: test-$(date +%s%N)" \\\n'
            '  --data-binary "$body"'
        )
    return (
        f"{body}\n"
        "ts=$(date +%s)\n"
        f"sig=$(printf '%s.%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac {key} | sed 's/^.* //')\n"
        f"{post} \\\n"
        f'  -H "{TIMESTAMP_HEADER}: $ts" -H "{SIGNATURE_HEADER}: v1=$sig" \\\n'
        '  --data-binary "$body"'
    )


def example_payload(mapping: Mapping[str, str] | None, inputs: Mapping[str, Any]) -> Any:
    """A payload for the example call: the agent's example inputs, each placed where the trigger's
    ``input_mapping`` takes it from (the inputs themselves without a mapping)."""
    if not mapping:
        return dict(inputs)
    doc: dict[str, Any] = {}
    for name, path in mapping.items():
        parts = path_parts(path)
        value = inputs.get(name, "")
        if not parts:  # the whole payload is this input
            return value
        here = doc
        for part in parts[:-1]:
            below = here.get(part)
            if not isinstance(below, dict):
                below = here[part] = {}
            here = below
        here[parts[-1]] = value
    return doc


def how_to_call(auth_mode: str, url: str) -> str:
    """What the sender must do, in words (HTML)."""
    where = f"<code>{html.escape(url)}</code>"
    if auth_mode == "github":
        return (
            f"<p>In GitHub (repository or organization <em>Settings → Webhooks → Add webhook</em>): "
            f"Payload URL {where}, Content type <code>application/json</code>, Secret: this secret. "
            'Map the payload to the agent\'s inputs (e.g. <code>{"who": "sender.login"}</code>) when '
            "its keys are not the inputs.</p>"
        )
    if auth_mode == "bearer":
        return f"<p>POST JSON to {where} with <code>Authorization: Bearer &lt;secret&gt;</code>.</p>"
    return (
        f"<p>POST JSON to {where} with <code>{TIMESTAMP_HEADER}</code> (unix seconds) and "
        f'<code>{SIGNATURE_HEADER}: v1=&lt;hex HMAC-SHA256 of "&lt;timestamp&gt;.&lt;body&gt;"&gt;</code>.</p>'
    )


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def triggers_table(triggers: Sequence[TriggerRecord], store: TriggerStore) -> str:
    """The agent's triggers as an HTML table, each row with Rotate secret and Delete buttons."""
    rows = []
    for t in triggers:
        last = "<span class='wb-muted'>never</span>"
        if t.last_fired_at is not None:
            run = ""
            if t.last_execution_id:
                ident = html.escape(t.last_execution_id)
                run = f' <a href="{run_href(ident)}">{html.escape(short_id(t.last_execution_id))}</a>'
            last = f"{_local(t.last_fired_at)}{run}"
        state = "" if t.is_enabled else " <span class='wb-muted'>(disabled)</span>"
        rows.append(
            [
                html.escape(t.name or "—") + state,
                f'<code class="wb-code wb-url">{html.escape(store.url(t.id))}</code>',
                html.escape(AUTH_WORDS.get(t.auth_mode, t.auth_mode)),
                f"{t.rate_limit_per_minute}/min",
                str(t.fire_count),
                last,
                action_button(
                    "rotate", t.id, "Rotate secret", title="A new secret; the old one stops working"
                )
                + " "
                + action_button("delete", t.id, "Delete", danger=True),
            ]
        )
    return html_table(
        ["Name", "URL to call", "Auth", "Rate limit", "Calls", "Last called", ""],
        rows,
        "No triggers yet: make one below to start this agent from another system.",
        fields=["name", "url", "auth", "rate", "calls", "last", "actions"],
        classes={"calls": "wb-num", "url": "wb-url-cell"},
        row_ids=[t.id for t in triggers],
    )


TRIGGER_CSS = """
.wb-table td.wb-url-cell { white-space: normal; overflow-wrap: anywhere; min-width: 14rem; }
code.wb-url { font-size: 0.8rem; }
"""


class TriggerSection(Viewer):
    """An agent's webhook triggers: the table, the form for a new one, the secret shown once."""

    store = param.ClassSelector(class_=TriggerStore, doc="Where triggers are read and changed.")
    graph_id = param.String(default="", doc="The agent the triggers start.")

    def __init__(self, *, inputs: Mapping[str, Any] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._example = dict(inputs or {})
        self._triggers: dict[str, TriggerRecord] = {}
        self.table = ActionTable(on_action=self._on_action, html="<p class='wb-empty'>Loading…</p>")
        self.table.stylesheets = [*self.table.stylesheets, TRIGGER_CSS]
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.rotate_bar = ConfirmBar("Yes, rotate")
        self.rotate_bar.yes.on_click(self._on_rotate)
        self.delete_bar = ConfirmBar("Yes, delete")
        self.delete_bar.yes.on_click(self._on_delete)

        self.name_input = pn.widgets.TextInput(label="Name", placeholder="e.g. GitHub issues", width=220)
        self.auth = pn.widgets.Select(label="Calls prove the secret by", options=AUTH_CHOICES, width=360)
        self.rate = pn.widgets.IntInput(
            label="Calls a minute at most", value=DEFAULT_RATE, start=1, end=MAX_RATE, width=170
        )
        self.mapping = pn.widgets.TextAreaInput(
            label="Input mapping (JSON, optional: input name → path into the payload)",
            placeholder='{"who": "sender.login"}   (empty: the payload\'s keys are the inputs)',
            height=60,
            sizing_mode="stretch_width",
        )
        self.errors = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.create_button = pn.widgets.Button(
            label="Make trigger", color="primary", icon="webhook", width=160
        )
        self.create_button.on_click(self._on_create)
        self.form = pn.Column(
            pn.pane.Markdown("### New trigger"),
            pn.Row(self.name_input, self.auth, self.rate),
            self.mapping,
            self.errors,
            self.create_button,
            sizing_mode="stretch_width",
            styles=FORM_STYLE,
            margin=(15, 5, 5, 5),
        )

        self.secret_intro = pn.pane.HTML("", sizing_mode="stretch_width")
        self.secret = pn.widgets.TextInput(
            label="The trigger's secret",
            disabled=True,
            stylesheets=[KEY_FIELD_CSS],
            sizing_mode="stretch_width",
        )
        self.copy_secret = pn.widgets.Button(label="Copy", icon="copy", width=100, align="end")
        self.copy_secret.js_on_click(args={"field": self.secret, "btn": self.copy_secret}, code=COPY_JS)
        self.example = pn.widgets.TextAreaInput(
            label="Try it: paste this into a terminal (bash, curl, openssl)",
            disabled=True,
            height=150,
            stylesheets=[EXAMPLE_CSS],
            sizing_mode="stretch_width",
        )
        self.copy_example = pn.widgets.Button(label="Copy example", icon="copy", width=150)
        self.copy_example.js_on_click(args={"field": self.example, "btn": self.copy_example}, code=COPY_JS)
        self.done = pn.widgets.Button(label="Done", width=100)
        self.done.on_click(lambda _event: self.forget_secret())
        self.secret_box = pn.Column(
            self.secret_intro,
            pn.Row(self.secret, self.copy_secret, sizing_mode="stretch_width"),
            self.example,
            pn.Row(self.copy_example, self.done),
            visible=False,
            sizing_mode="stretch_width",
            styles=BOX_STYLE,
            css_classes=["wb-trigger-secret"],
        )
        self._layout = pn.Column(
            self.message,
            self.table,
            self.rotate_bar,
            self.delete_bar,
            self.secret_box,
            self.form,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """The section."""
        return self._layout

    def _say(self, alert: pn.pane.Alert, text: str | None, kind: str = "danger") -> None:
        def show() -> None:
            alert.alert_type = kind
            alert.object = text or ""
            alert.visible = text is not None

        on_page(show)

    async def refresh(self) -> None:
        """Read the agent's triggers again; a failure is said above the table."""
        try:
            found = await self.store.triggers(self.graph_id)
        except Exception as exc:  # the page's boundary
            self._say(self.message, describe_error(exc))
            return
        self._triggers = {t.id: t for t in found}
        markup = triggers_table(found, self.store)
        on_page(lambda: setattr(self.table, "html", markup))

    # ---- a new trigger ---------------------------------------------------------------------------

    def fields(self) -> dict[str, Any]:
        """The new trigger's fields; InvalidFields when the mapping is not a JSON object."""
        raw = (self.mapping.value_input if self.mapping.value_input is not None else self.mapping.value) or ""
        mapping: Any = None
        if raw.strip():
            try:
                mapping = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidFields(
                    [("input_mapping", f"is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
                ) from None
        name = (
            self.name_input.value_input if self.name_input.value_input is not None else self.name_input.value
        )
        return {
            "graph_id": self.graph_id,
            "name": (name or "").strip(),
            "auth_mode": self.auth.value,
            "rate_limit_per_minute": self.rate.value,
            "input_mapping": mapping,
        }

    async def _on_create(self, _event: object) -> None:
        await self.create()

    async def create(self) -> IssuedSecret | None:
        """Make the trigger from the form and show its secret once; a refusal names each bad field."""
        on_page(lambda: setattr(self.create_button, "loading", True))
        try:
            issued = await self.store.create(self.fields())
        except Exception as exc:  # the page's boundary
            self._say(self.errors, "**The trigger was not made:**\n\n" + _problems(exc))
            return None
        finally:
            on_page(lambda: setattr(self.create_button, "loading", False))
        self._say(self.errors, None)
        on_page(lambda: self.name_input.param.update(value="", value_input=""))
        self.show_secret(issued, "made")
        await self.refresh()
        return issued

    def show_secret(self, issued: IssuedSecret, what: str) -> None:
        """The secret of a trigger just made or rotated, with how to call it: this once."""
        t = issued.trigger
        url = self.store.url(t.id)
        label = html.escape(t.name or short_id(t.id))
        intro = (
            f"<p><strong>Trigger {label} {what}. Copy its secret now: it will not be shown again.</strong></p>"
            + how_to_call(t.auth_mode, url)
        )
        payload = example_payload(t.input_mapping, self._example)
        example = curl_example(url, issued.secret, t.auth_mode, payload)

        def show() -> None:
            self.secret_intro.object = intro
            self.secret.value = issued.secret
            self.example.value = example
            self.copy_secret.label = "Copy"
            self.copy_example.label = "Copy example"
            self.secret_box.visible = True

        on_page(show)

    def forget_secret(self) -> None:
        """Take the shown secret off the page."""

        def hide() -> None:
            self.secret.value = ""
            self.example.value = ""
            self.secret_box.visible = False

        on_page(hide)

    # ---- rotating and deleting ---------------------------------------------------------------------

    def _on_action(self, action: str, trigger_id: str) -> None:
        found = self._triggers.get(trigger_id)
        if found is None:
            return
        name = html.escape(found.name or short_id(found.id))
        if action == "rotate":
            self.delete_bar.close()
            self.rotate_bar.ask(
                trigger_id,
                f"<p>Give <strong>{name}</strong> a new secret? The current one stops working at once: "
                "update the sender right after.</p>",
            )
        elif action == "delete":
            self.rotate_bar.close()
            self.delete_bar.ask(
                trigger_id,
                f"<p>Delete <strong>{name}</strong>? Its URL answers 404 from now on (the runs it started "
                "stay).</p>",
            )

    async def _on_rotate(self, _event: object) -> None:
        if self.rotate_bar.target is not None:
            await self.rotate(self.rotate_bar.target)

    async def _on_delete(self, _event: object) -> None:
        if self.delete_bar.target is not None:
            await self.delete(self.delete_bar.target)

    async def rotate(self, trigger_id: str) -> IssuedSecret | None:
        """Rotate a trigger's secret and show the new one once."""
        self.rotate_bar.close()
        try:
            issued = await self.store.rotate(trigger_id)
        except Exception as exc:  # the page's boundary
            self._say(self.message, describe_error(exc))
            return None
        self._say(self.message, None)
        self.show_secret(issued, "has a new secret")
        await self.refresh()
        return issued

    async def delete(self, trigger_id: str) -> bool:
        """Delete a trigger."""
        self.delete_bar.close()
        try:
            await self.store.delete(trigger_id)
        except Exception as exc:  # the page's boundary
            self._say(self.message, describe_error(exc))
            return False
        self._say(self.message, None)
        self.forget_secret()
        await self.refresh()
        return True


def _problems(exc: BaseException) -> str:
    if isinstance(exc, InvalidFields):
        return "\n".join(f"- `{field}`: {message}" for field, message in exc.problems)
    return describe_error(exc)
