"""Profile (``/profile``): the account (name, timezone), API keys, and credentials for the blocks.

Everything goes through the services the REST API uses (``ctx.wb.accounts``, ``ctx.wb.credentials``),
so the rules are the same: a new API key is shown once (here, in a read-only field with a Copy
button) and stored hashed; a credential's secret goes in through password inputs and never comes back
(the table shows metadata only). Mistakes and outages are said in the section they happened in, never
as a traceback. Notifications (channels, preferences, the delivery log) are a section of their own
(:mod:`workbench.ui.profile_notifications`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import panel as pn
import param
from panel.viewable import Viewer

from workbench.auth import LOCAL_USER_ID, SCOPES, Principal
from workbench.services.accounts import AccountService, timezone_names
from workbench.services.credentials import CredentialMeta, CredentialVault
from workbench.services.notifications.service import NotificationService
from workbench.store.accounts import ApiKeyRecord
from workbench.store.database import reaching_database
from workbench.ui.action_table import ACTION_CSS, ActionTable, action_button
from workbench.ui.context import UiContext
from workbench.ui.credential_forms import BY_ID, FORMS, ProviderForm
from workbench.ui.profile_notifications import NotificationSettings
from workbench.ui.sections import (
    COPY_JS,
    KEY_FIELD_CSS,
    SECTION_STYLE,
    ConfirmBar,
    on_page,
    problem_text,
    when,
)
from workbench.ui.sections import make_alert as _alert
from workbench.ui.sections import say as _say
from workbench.ui.sections import set_on_page as _set
from workbench.ui.tables import html_table

EXPIRIES: dict[str, int] = {"Never": 0, "In 7 days": 7, "In 30 days": 30, "In 90 days": 90, "In a year": 365}
"""The API key lifetimes offered (days; 0: the key does not expire)."""


def keys_table(keys: Sequence[ApiKeyRecord], zone: str, now: datetime) -> str:
    """The user's API keys, newest first, with a Revoke button on each live one."""
    rows = []
    for key in keys:
        if key.revoked_at is not None:
            state = f'<span class="wb-muted">revoked {when(key.revoked_at, zone)}</span>'
        elif key.expires_at is not None and key.expires_at <= now:
            state = '<span class="wb-muted">expired</span>'
        else:
            state = action_button("revoke", key.id, "Revoke", danger=True, title=f"Revoke {key.name}")
        rows.append(
            [
                html.escape(key.name),
                f'<code class="wb-code">{html.escape(key.prefix)}…</code>',
                html.escape(", ".join(key.scopes)),
                when(key.created_at, zone),
                when(key.last_used_at, zone) or '<span class="wb-muted">never</span>',
                when(key.expires_at, zone) or '<span class="wb-muted">never</span>',
                state,
            ]
        )
    return html_table(
        ["Name", "Key", "Scopes", "Created", "Last used", "Expires", ""],
        rows,
        "No API keys yet.",
        fields=["name", "prefix", "scopes", "created", "last_used", "expires", "action"],
        row_ids=[key.id for key in keys],
    )


def credentials_table(credentials: Sequence[CredentialMeta], zone: str) -> str:
    """The user's credentials: metadata only, with a Delete button each."""
    labels = {form.provider: form.label for form in reversed(FORMS)}
    rows = [
        [
            html.escape(labels.get(cred.provider, cred.provider))
            + f' <span class="wb-muted">({html.escape(cred.provider)})</span>',
            html.escape(cred.title or "") or '<span class="wb-muted">untitled</span>',
            html.escape(cred.type),
            when(cred.created_at, zone),
            action_button("delete", cred.id, "Delete", danger=True, title="Delete this credential"),
        ]
        for cred in credentials
    ]
    return html_table(
        ["Provider", "Title", "Type", "Created", ""],
        rows,
        "No credentials yet.",
        fields=["provider", "title", "type", "created", "action"],
        row_ids=[cred.id for cred in credentials],
    )


class Profile(Viewer):
    """The Profile page of one user."""

    user_id = param.String(doc="Whose profile (the services check every call against it).")
    email = param.String(default=None, allow_None=True, doc="The address; None: the local user.")
    timezone = param.String(default="UTC", doc="The account's timezone (times are shown in it).")

    def __init__(
        self,
        accounts: AccountService,
        vault: CredentialVault,
        notifications: NotificationSettings | None = None,
        **params: object,
    ) -> None:
        super().__init__(**params)
        self.accounts = accounts
        self.vault = vault
        self.notifications = notifications
        """The Notifications section (None: the server has no notifications)."""
        self._principal = Principal(self.user_id, via="local" if self.is_local else "token")
        self._keys: dict[str, ApiKeyRecord] = {}
        self._credentials: dict[str, CredentialMeta] = {}
        self._build_account()
        self._build_keys()
        self._build_credentials()

    @property
    def is_local(self) -> bool:
        """The local user of ``--auth none`` (no login; the API asks for no key)."""
        return self.user_id == LOCAL_USER_ID

    # ---- account ---------------------------------------------------------------------------------

    def _build_account(self) -> None:
        who = html.escape(self.email) if self.email else "the local user (this server runs without login)"
        self._who = pn.pane.HTML(f"<p>Signed in as <strong>{who}</strong>.</p>", sizing_mode="stretch_width")
        self.name_input = pn.widgets.TextInput(name="Name", placeholder="How you are called", width=280)
        self.zone_input = pn.widgets.AutocompleteInput(
            name="Timezone",
            options=list(timezone_names()),
            restrict=True,
            case_sensitive=False,
            search_strategy="includes",
            min_characters=1,
            placeholder="Type to search: Madrid, New_York, UTC…",
            description="Schedules you create without a timezone of their own use this one.",
            width=320,
        )
        self.save_button = pn.widgets.Button(name="Save", button_type="primary", width=100, align="end")
        self.save_button.on_click(self._on_save)
        self.account_alert = _alert()

    async def save_account(self) -> None:
        """Store the name and timezone as typed."""
        _set(self.save_button, loading=True)
        try:
            async with reaching_database("save your profile"):
                user = await self.accounts.update_profile(
                    self.user_id,
                    name=self.name_input.value,
                    timezone=self.zone_input.value or None,
                    by=self._principal,
                )
        except Exception as exc:  # the page's boundary
            _say(self.account_alert, problem_text(exc, "saving the profile"))
            return
        finally:
            _set(self.save_button, loading=False)
        self.timezone = user.timezone
        _say(self.account_alert, f"Saved: timezone {user.timezone}.", "success")
        await self.refresh_tables()
        if self.notifications is not None:
            self.notifications.timezone = user.timezone
            await self.notifications.refresh_channels()
            await self.notifications.refresh_log()

    async def _on_save(self, _event: object) -> None:
        await self.save_account()

    # ---- API keys --------------------------------------------------------------------------------

    def _build_keys(self) -> None:
        self.key_name = pn.widgets.TextInput(name="Key name", placeholder="e.g. CI, laptop script", width=280)
        self.key_scopes = pn.widgets.CheckBoxGroup(
            name="Scopes",
            options={f"{scope}: {text}": scope for scope, text in SCOPES.items()},
            value=["graphs:read"],
            inline=False,
        )
        self.key_expiry = pn.widgets.Select(name="Expires", options=list(EXPIRIES), value="Never", width=160)
        self.create_button = pn.widgets.Button(
            name="Create key", button_type="primary", width=120, align="end"
        )
        self.create_button.on_click(self._on_create_key)
        self.keys_alert = _alert()
        self.new_key = pn.widgets.TextInput(
            name="Your new key", disabled=True, stylesheets=[KEY_FIELD_CSS], sizing_mode="stretch_width"
        )
        self.copy_button = pn.widgets.Button(name="Copy", icon="copy", width=100, align="end")
        self.copy_button.js_on_click(args={"field": self.new_key, "btn": self.copy_button}, code=COPY_JS)
        self.done_button = pn.widgets.Button(name="Done", width=100, align="end")
        self.done_button.on_click(lambda _event: self.forget_new_key())
        self.new_key_box = pn.Column(
            pn.pane.HTML(
                "<p><strong>Copy this key now: it will not be shown again.</strong> Send it as "
                "<code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code>.</p>"
            ),
            pn.Row(self.new_key, self.copy_button, self.done_button, sizing_mode="stretch_width"),
            visible=False,
            sizing_mode="stretch_width",
            styles={
                "background": "#ecfdf5",
                "border": "1px solid #6ee7b7",
                "border-radius": "6px",
                "padding": "0 10px 8px",
            },
        )
        self.keys_table = ActionTable(on_action=self._on_key_action, html="<p class='wb-empty'>Loading…</p>")
        self.revoke_bar = ConfirmBar("Yes, revoke")
        self.revoke_bar.yes.on_click(self._on_revoke)

    async def create_key(self) -> None:
        """Create a key from the form and show it once."""
        days = EXPIRIES.get(self.key_expiry.value, 0)
        expires = datetime.now(UTC) + timedelta(days=days) if days else None
        _set(self.create_button, loading=True)
        try:
            async with reaching_database("create the key"):
                _record, key = await self.accounts.create_key(
                    self.user_id,
                    self.key_name.value.strip() or "unnamed key",
                    list(self.key_scopes.value),
                    expires,
                    by=self._principal,
                )
        except Exception as exc:  # the page's boundary
            _say(self.keys_alert, problem_text(exc, "creating the key"))
            return
        finally:
            _set(self.create_button, loading=False)
        _say(self.keys_alert, None)
        _set(self.key_name, value="")
        _set(self.new_key, value=key)
        _set(self.copy_button, name="Copy")
        _set(self.new_key_box, visible=True)
        await self.refresh_tables()

    def forget_new_key(self) -> None:
        """Take the shown key off the page."""
        _set(self.new_key, value="")
        _set(self.new_key_box, visible=False)

    async def _on_create_key(self, _event: object) -> None:
        await self.create_key()

    def _on_key_action(self, action: str, key_id: str) -> None:
        key = self._keys.get(key_id)
        if action != "revoke" or key is None:
            return
        self.revoke_bar.ask(
            key_id,
            f"<p>Revoke the key <strong>{html.escape(key.name)}</strong> "
            f'(<code class="wb-code">{html.escape(key.prefix)}…</code>)? Whatever uses it is refused '
            "from now on.</p>",
        )

    async def revoke(self, key_id: str) -> None:
        """Revoke one of the user's keys."""
        self.revoke_bar.close()
        try:
            async with reaching_database("revoke the key"):
                await self.accounts.revoke_key(self.user_id, key_id, by=self._principal)
        except Exception as exc:  # the page's boundary
            _say(self.keys_alert, problem_text(exc, "revoking the key"))
        else:
            _say(self.keys_alert, None)
        await self.refresh_tables()

    async def _on_revoke(self, _event: object) -> None:
        if self.revoke_bar.target is not None:
            await self.revoke(self.revoke_bar.target)

    # ---- credentials -----------------------------------------------------------------------------

    def _build_credentials(self) -> None:
        self.provider = pn.widgets.Select(
            name="Provider", options={form.label: form.id for form in FORMS}, value=FORMS[0].id, width=320
        )
        self.cred_title = pn.widgets.TextInput(name="Title", placeholder="e.g. work account", width=280)
        self.cred_help = pn.pane.HTML("", sizing_mode="stretch_width")
        self.cred_fields: dict[str, pn.widgets.TextInput] = {}
        self.cred_fields_box = pn.FlexBox(sizing_mode="stretch_width")
        self.add_button = pn.widgets.Button(name="Add credential", button_type="primary", width=150)
        self.add_button.on_click(self._on_add_credential)
        self.cred_alert = _alert()
        self.cred_table = ActionTable(on_action=self._on_cred_action, html="<p class='wb-empty'>Loading…</p>")
        self.delete_bar = ConfirmBar("Yes, delete")
        self.delete_bar.yes.on_click(self._on_delete)
        self.provider.param.watch(lambda _event: on_page(self._show_form), "value")
        self._show_form()

    @property
    def form(self) -> ProviderForm:
        """The provider form chosen."""
        return BY_ID[self.provider.value]

    def _show_form(self) -> None:
        """The fields of the chosen provider (secrets in password inputs)."""
        form = self.form
        self.cred_help.object = f"<p>{html.escape(form.help)}</p>"
        widgets: dict[str, pn.widgets.TextInput] = {}
        for spec in form.fields:
            kind: Callable[..., pn.widgets.TextInput] = (
                pn.widgets.PasswordInput if spec.hidden else pn.widgets.TextInput
            )
            widgets[spec.key] = kind(
                name=spec.label + (" *" if spec.required else ""), placeholder=spec.placeholder, width=300
            )
        self.cred_fields = widgets
        self.cred_fields_box.objects = list(widgets.values())

    def _clear_form(self) -> None:
        for widget in self.cred_fields.values():
            _set(widget, value="", value_input="")
        _set(self.cred_title, value="")

    async def add_credential(self) -> None:
        """Store the form's secret in the vault; the fields are emptied once it is stored (kept, to be
        corrected, when it is refused)."""
        form = self.form
        values = {key: widget.value_input or widget.value for key, widget in self.cred_fields.items()}
        _set(self.add_button, loading=True)
        try:
            secret = form.secret(values)
            async with reaching_database("store the credential"):
                meta = await self.vault.create(
                    self.user_id, form.provider, form.type, secret, self.cred_title.value.strip() or None
                )
        except Exception as exc:  # the page's boundary
            _say(self.cred_alert, problem_text(exc, "adding the credential"))
            return
        finally:
            _set(self.add_button, loading=False)
        self._clear_form()
        _say(
            self.cred_alert,
            f"Added the {form.label} credential" + (f" “{meta.title}”." if meta.title else "."),
            "success",
        )
        await self.refresh_tables()

    async def _on_add_credential(self, _event: object) -> None:
        await self.add_credential()

    def _on_cred_action(self, action: str, cred_id: str) -> None:
        cred = self._credentials.get(cred_id)
        if action != "delete" or cred is None:
            return
        title = f" <strong>{html.escape(cred.title)}</strong>" if cred.title else ""
        self.delete_bar.ask(
            cred_id,
            f"<p>Delete the {html.escape(cred.provider)} credential{title}? Agents that use it will "
            "fail until you add another.</p>",
        )

    async def delete_credential(self, cred_id: str) -> None:
        """Delete one of the user's credentials."""
        self.delete_bar.close()
        try:
            async with reaching_database("delete the credential"):
                await self.vault.delete(self.user_id, cred_id)
        except Exception as exc:  # the page's boundary
            _say(self.cred_alert, problem_text(exc, "deleting the credential"))
        else:
            _say(self.cred_alert, None)
        await self.refresh_tables()

    async def _on_delete(self, _event: object) -> None:
        if self.delete_bar.target is not None:
            await self.delete_credential(self.delete_bar.target)

    # ---- loading ---------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the account into the form, then the tables."""
        try:
            async with reaching_database("read your account"):
                user = await self.accounts.me(self.user_id)
        except Exception as exc:  # the page's boundary
            _say(self.account_alert, problem_text(exc, "reading your account") + " Reload the page.")
        else:
            self._principal = Principal(
                self.user_id,
                via="local" if self.is_local else "token",
                generation=None if self.is_local else user.token_generation,
            )
            self.timezone = user.timezone
            _set(self.name_input, value=user.name or "")
            _set(self.zone_input, value=user.timezone)
        await self.refresh_tables()
        if self.notifications is not None:
            self.notifications.timezone = self.timezone
            await self.notifications.load()

    async def refresh_tables(self) -> None:
        """Read the keys and credentials again."""
        try:
            async with reaching_database("read your API keys"):
                keys = await self.accounts.list_keys(self.user_id)
        except Exception as exc:  # the page's boundary
            _say(self.keys_alert, problem_text(exc, "reading your API keys"))
        else:
            self._keys = {key.id: key for key in keys}
            _set(self.keys_table, html=keys_table(keys, self.timezone, datetime.now(UTC)))
        try:
            async with reaching_database("read your credentials"):
                credentials = await self.vault.list(self.user_id)
        except Exception as exc:  # the page's boundary
            _say(self.cred_alert, problem_text(exc, "reading your credentials"))
        else:
            self._credentials = {cred.id: cred for cred in credentials}
            _set(self.cred_table, html=credentials_table(credentials, self.timezone))

    # ---- layout ----------------------------------------------------------------------------------

    def __panel__(self) -> pn.viewable.Viewable:
        """The page."""
        local_note = (
            [
                pn.pane.HTML(
                    "<p class='wb-muted'>This server runs without login (<code>--auth none</code>): its API "
                    "asks for no key. Keys made here work once it runs with accounts.</p>",
                    stylesheets=[ACTION_CSS],
                )
            ]
            if self.is_local
            else []
        )
        account = pn.Column(
            pn.pane.Markdown("## Account"),
            self._who,
            pn.Row(self.name_input, self.zone_input, self.save_button),
            self.account_alert,
            sizing_mode="stretch_width",
            styles=SECTION_STYLE,
            margin=(0, 0, 18, 0),
        )
        keys = pn.Column(
            pn.pane.Markdown("## API keys"),
            pn.pane.HTML(
                "<p>For scripts, notebooks and other programs calling the REST API. A key can do only "
                "what its scopes allow.</p>"
            ),
            *local_note,
            pn.Row(self.key_name, self.key_expiry, self.create_button),
            pn.pane.HTML("<strong>Scopes</strong>"),
            self.key_scopes,
            self.keys_alert,
            self.new_key_box,
            self.keys_table,
            self.revoke_bar,
            sizing_mode="stretch_width",
            styles=SECTION_STYLE,
            margin=(0, 0, 18, 0),
        )
        credentials = pn.Column(
            pn.pane.Markdown("## Credentials"),
            pn.pane.HTML(
                "<p>Secrets your agents' blocks use (LLM providers, GitHub, databases), encrypted at rest. "
                "Once added, a secret is never shown again: only what it is for.</p>"
            ),
            pn.Row(self.provider, self.cred_title),
            self.cred_help,
            self.cred_fields_box,
            self.add_button,
            self.cred_alert,
            self.cred_table,
            self.delete_bar,
            sizing_mode="stretch_width",
            styles=SECTION_STYLE,
            margin=(0, 0, 18, 0),
        )
        notifications = (
            [
                pn.Column(
                    self.notifications,
                    sizing_mode="stretch_width",
                    styles=SECTION_STYLE,
                    margin=(0, 0, 18, 0),
                )
            ]
            if self.notifications is not None
            else []
        )
        return pn.Column(
            account, keys, credentials, *notifications, sizing_mode="stretch_width", max_width=1200
        )


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The Profile page for one browser session; its data loads once the page is shown."""
    if ctx.wb.accounts is None or ctx.wb.credentials is None:
        return pn.pane.Alert(
            "Profiles need the database, and this server has none.",
            alert_type="danger",
            sizing_mode="stretch_width",
        )
    settings = None
    if ctx.wb.db is not None and ctx.wb.keys is not None:
        notifier = ctx.wb.notifier
        settings = NotificationSettings(
            NotificationService.of(ctx.wb),
            notifier.forget if notifier is not None else None,
            user_id=ctx.user_id,
        )
    page = Profile(ctx.wb.accounts, ctx.wb.credentials, settings, user_id=ctx.user_id, email=ctx.email)
    pn.state.onload(page.load)
    return page
