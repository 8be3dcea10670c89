"""Profile → Notifications: where notifications go (channels), which go where and when (preferences),
and what was sent (the delivery log).

- **Channels**: the user's outside destinations (email, signed webhook, Slack, Discord), with a form
  to add one (a mistake is said under the field it is about), switch one off and on, give a webhook
  a new signing secret, or delete one (both asked first). A webhook's secret is shown once, in a
  read-only field with a Copy button, when it is made or rotated; Slack and Discord URLs are secrets
  themselves, so they are typed into password fields and listed cut to their origin.
- **Preferences**: a grid of events by channels (:class:`~workbench.ui.preference_grid.PreferenceGrid`),
  quiet hours, a daily cap for outside channels and the summary. Saving changes those fields only
  (per-agent overrides set through the API stay); a document that does not hold is refused whole,
  with each problem under its field, and nothing is stored.
- **Delivery log**: each delivery on an outside channel, newest first: status, channel, target,
  event, attempts and why (failed, suppressed, held), filtered by status.

Every call is :class:`~workbench.services.notifications.service.NotificationService`'s, as the
logged-in user; the rules are the API's.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from workbench.errors import ConflictError, InvalidFields
from workbench.notify.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from workbench.services.accounts import timezone_names
from workbench.services.notifications.preferences import EVENTS, MAX_CAP, Preferences
from workbench.services.notifications.service import DELIVERY_STATUSES, NotificationService
from workbench.store.database import reaching_database
from workbench.store.notifications import ChannelRecord, DeliveryRecord
from workbench.ui.action_table import ACTION_CSS, ActionTable, action_button
from workbench.ui.notifications_data import channel_label, kind_label
from workbench.ui.preference_grid import PreferenceGrid
from workbench.ui.sections import (
    ConfirmBar,
    FieldError,
    SecretOnce,
    make_alert,
    on_page,
    problem_text,
    say,
    set_on_page,
    when,
)
from workbench.ui.tables import TABLE_CSS, html_table

KINDS: dict[str, str] = {
    "Email": "email",
    "Webhook (signed)": "webhook",
    "Slack (incoming webhook)": "slack",
    "Discord (webhook)": "discord",
}
"""The channel kinds the form offers."""
TARGETS: dict[str, tuple[str, str, bool]] = {
    "email": ("Email address", "ada@example.com", False),
    "webhook": ("Webhook URL", "https://example.com/hooks/workbench", False),
    "slack": ("Slack webhook URL", "https://hooks.slack.com/services/…", True),
    "discord": ("Discord webhook URL", "https://discord.com/api/webhooks/…", True),
}
"""Per kind: the target field's label, an example, and whether it is a secret (a password field)."""
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "run_failed": ("A run failed", "the failing step and its error"),
    "run_completed": ("A run completed", "with its duration, tokens and cost"),
    "schedule_missed": ("A scheduled run was missed", "the server was down at the time"),
    "schedule_failing": ("A schedule keeps failing", "three failed runs in a row"),
    "review_requested": ("A run waits for your review", "a human-in-the-loop step"),
    "summary": ("Summary", "daily or weekly, when Summary below is on"),
    "custom": ("Messages from agents", "the Notify block, without a channel of its own"),
}
"""The grid's rows: what each event means to a person."""
GRID_CHANNELS = [
    ["in_app", "In the apps"],
    ["email", "Email"],
    ["webhook", "Webhook"],
    ["slack", "Slack"],
    ["discord", "Discord"],
]
SUMMARIES = {"Off": "off", "Daily": "daily", "Weekly": "weekly"}
STATUS_CHOICES = {"All": "", **{status.capitalize(): status for status in DELIVERY_STATUSES}}
STATUS_CSS = """
.wb-dstatus { font-weight: 600; }
.wb-dstatus-delivered { color: #166534; }
.wb-dstatus-failed { color: #991b1b; }
.wb-dstatus-suppressed { color: #6b21a8; }
.wb-dstatus-pending, .wb-dstatus-sending { color: #1e40af; }
.wb-table td[data-field="reason"] { white-space: normal; min-width: 14rem; overflow-wrap: anywhere; }
.wb-table td[data-field="title"] { white-space: normal; min-width: 10rem; }
.wb-actions { display: inline-flex; gap: 0.4rem; }
.wb-off { color: #4b5563; font-style: italic; }
"""
SUBSECTION_STYLE = {"border-top": "1px solid #e5e7eb", "margin-top": "6px"}


def channels_table(channels: Sequence[ChannelRecord], zone: str) -> str:
    """The user's channels: name, kind, where (cut to what may be shown), on or off, and actions."""
    rows = []
    for ch in channels:
        actions = [
            action_button(
                "disable" if ch.enabled else "enable",
                ch.id,
                "Disable" if ch.enabled else "Enable",
                title=f"Switch {ch.name} {'off' if ch.enabled else 'on'}",
            )
        ]
        if ch.kind == "webhook":
            actions.append(action_button("rotate", ch.id, "New secret", title="Rotate the signing secret"))
        actions.append(action_button("delete", ch.id, "Delete", danger=True, title=f"Delete {ch.name}"))
        rows.append(
            [
                html.escape(ch.name),
                html.escape(channel_label(ch.kind)),
                f'<code class="wb-code">{html.escape(ch.display)}</code>',
                "on" if ch.enabled else '<span class="wb-off">off</span>',
                when(ch.created_at, zone),
                f'<span class="wb-actions">{"".join(actions)}</span>',
            ]
        )
    return html_table(
        ["Name", "Kind", "Target", "On", "Added", ""],
        rows,
        "No channels yet: notifications go to the apps, and email to your account's address.",
        fields=["name", "kind", "target", "enabled", "created", "actions"],
        row_ids=[ch.id for ch in channels],
    )


def delivery_status(status: str) -> str:
    """A delivery's status, coloured by its class."""
    clean = html.escape(status)
    return f'<span class="wb-dstatus wb-dstatus-{clean}">{clean}</span>'


def deliveries_table(deliveries: Sequence[DeliveryRecord], zone: str) -> str:
    """The delivery log: one row per delivery, in words (never the raw reports)."""
    rows = []
    for d in deliveries:
        why = d.reason or ""
        if d.status == "pending" and d.attempts:
            why = (why + "; " if why else "") + f"next try {when(d.next_attempt_at, zone)}"
        elif d.status == "delivered" and d.delivered_at is not None:
            why = why or f"delivered {when(d.delivered_at, zone)}"
        rows.append(
            [
                when(d.created_at, zone),
                delivery_status(d.status),
                html.escape(channel_label(d.channel)),
                f'<code class="wb-code">{html.escape(d.target)}</code>',
                html.escape(kind_label(d.kind)),
                html.escape(d.title),
                str(d.attempts),
                html.escape(why),
            ]
        )
    return html_table(
        ["When", "Status", "Channel", "Target", "Event", "Title", "Attempts", "Details"],
        rows,
        "Nothing sent outside the apps yet.",
        fields=["when", "status", "channel", "target", "event", "title", "attempts", "reason"],
        classes={"attempts": "wb-num"},
        row_ids=[d.id for d in deliveries],
    )


def field_message(field: str, message: str) -> str:
    """A validation message as it reads under its field."""
    text = message.removeprefix("Value error, ")
    if field in ("quiet_hours.start", "quiet_hours.end") and "time" in text.lower() and "same" not in text:
        return "give a time of day such as 22:00"
    if field == "daily_cap" and ("greater" in text or "less" in text or "integer" in text):
        return f"must be a whole number from 1 to {MAX_CAP}, or empty for no cap"
    return text


def _typed(widget: pn.widgets.TextInput | pn.widgets.AutocompleteInput) -> str:
    """What a text field holds now (as typed, even before it was committed), stripped."""
    return (widget.value_input or widget.value or "").strip()


def _column(field: Any, error: FieldError) -> pn.Column:
    """A field with its error under it, as wide as the field."""
    width = getattr(field, "width", None)
    return pn.Column(field, error, margin=0, width=width + 20 if width else None)


class NotificationSettings(Viewer):
    """Profile's Notifications section of one user."""

    user_id = param.String(doc="Whose settings (every call is scoped to this user).")
    timezone = param.String(default="UTC", doc="The account's timezone (times are shown in it).")

    def __init__(
        self, service: NotificationService, forget: Callable[[str], None] | None = None, **params: Any
    ) -> None:
        super().__init__(**params)
        self.service = service
        self._forget = forget
        """Drops the notifier's cached preferences of the user (it keeps them a few seconds)."""
        self._channels: dict[str, ChannelRecord] = {}
        self._build_channels()
        self._build_preferences()
        self._build_log()

    # ---- channels --------------------------------------------------------------------------------

    def _build_channels(self) -> None:
        self.kind = pn.widgets.Select(label="Kind", options=KINDS, value="email", width=220)
        self.channel_name = pn.widgets.TextInput(
            label="Channel name", placeholder="e.g. work mail", width=240
        )
        self.target_box = pn.Column(margin=0, width=420)
        self.target: pn.widgets.TextInput = pn.widgets.TextInput()
        self.errors = {name: FieldError(name) for name in ("kind", "name", "target")}
        self.add_channel_button = pn.widgets.Button(
            label="Add channel", color="primary", width=140, align="start", margin=(27, 10, 10, 10)
        )
        self.add_channel_button.on_click(self._on_add_channel)
        self.channels_alert = make_alert()
        self.secret = SecretOnce(
            "Signing secret",
            "<p><strong>Copy this secret now: it will not be shown again.</strong></p>",
        )
        self.channels_table = ActionTable(
            on_action=self._on_channel_action,
            html="<p class='wb-empty'>Loading…</p>",
            stylesheets=[TABLE_CSS, ACTION_CSS, STATUS_CSS],
        )
        self.delete_bar = ConfirmBar("Yes, delete")
        self.delete_bar.yes.on_click(self._on_delete_channel)
        self.rotate_bar = ConfirmBar("Yes, new secret")
        self.rotate_bar.yes.on_click(self._on_rotate)
        self.kind.param.watch(lambda _event: on_page(self._show_target), "value")
        self._show_target()

    def _show_target(self) -> None:
        """The target field for the chosen kind (a password field where the URL is a secret)."""
        label, example, hidden = TARGETS[self.kind.value]
        kind = pn.widgets.PasswordInput if hidden else pn.widgets.TextInput
        self.target = kind(label=label, placeholder=example, width=400)
        self.target_box.objects = [self.target]
        self.errors["target"].show(None)

    def _channel_problems(self, exc: BaseException) -> bool:
        """Put a refusal's problems under their fields; False when it is not about a field."""
        if isinstance(exc, InvalidFields):
            shown = False
            for name, message in exc.problems:
                if name in self.errors:
                    self.errors[name].show(message)
                    shown = True
            return shown
        if isinstance(exc, ConflictError):
            self.errors["name"].show(str(exc))
            return True
        return False

    async def add_channel(self) -> None:
        """Add the form's channel; a webhook's secret is shown once."""
        self._clear_form_errors()
        say(self.channels_alert, None)
        kind = self.kind.value
        target = _typed(self.target)
        set_on_page(self.add_channel_button, loading=True)
        try:
            async with reaching_database("add the channel"):
                issued = await self.service.add_channel(
                    self.user_id, kind, self.channel_name.value or "", target
                )
        except Exception as exc:  # the page's boundary
            if not self._channel_problems(exc):
                say(self.channels_alert, problem_text(exc, "adding the channel"))
            return
        finally:
            set_on_page(self.add_channel_button, loading=False)
        set_on_page(self.channel_name, value="", value_input="")
        set_on_page(self.target, value="", value_input="")
        name = html.escape(issued.channel.name)
        if issued.secret is not None:
            self.secret.show(
                issued.secret,
                f"<p><strong>Copy the signing secret of “{name}” now: it will not be shown again.</strong> "
                f"Each request carries <code>{SIGNATURE_HEADER}</code>: an HMAC-SHA256 of "
                f"<code>{TIMESTAMP_HEADER}</code>, a dot and the body, keyed with it.</p>",
            )
        say(
            self.channels_alert,
            f"Added the {channel_label(kind)} channel “{issued.channel.name}”.",
            "success",
        )
        await self.refresh_channels()

    async def _on_add_channel(self, _event: object) -> None:
        await self.add_channel()

    def _on_channel_action(self, action: str, channel_id: str) -> None:
        channel = self._channels.get(channel_id)
        if channel is None:
            return
        name = html.escape(channel.name)
        if action == "delete":
            self.rotate_bar.close()
            self.delete_bar.ask(
                channel_id,
                f"<p>Delete the channel <strong>{name}</strong>? Notifications stop going there; what it "
                "delivered stays in the log.</p>",
            )
        elif action == "rotate":
            self.delete_bar.close()
            self.rotate_bar.ask(
                channel_id,
                f"<p>Give <strong>{name}</strong> a new signing secret? The current one stops at once: "
                "update the receiver right after.</p>",
            )
        elif action in ("enable", "disable"):

            async def switch() -> None:
                await self.set_enabled(channel_id, action == "enable")

            pn.state.execute(switch)

    def _clear_form_errors(self) -> None:
        for error in self.errors.values():
            error.show(None)

    async def set_enabled(self, channel_id: str, enabled: bool) -> None:
        """Switch a channel on or off."""
        self._clear_form_errors()
        try:
            async with reaching_database("change the channel"):
                await self.service.update_channel(channel_id, self.user_id, enabled=enabled)
        except Exception as exc:  # the page's boundary
            say(self.channels_alert, problem_text(exc, "changing the channel"))
        else:
            say(self.channels_alert, None)
        await self.refresh_channels()

    async def rotate(self, channel_id: str) -> None:
        """A new signing secret for a webhook channel, shown once."""
        self.rotate_bar.close()
        self._clear_form_errors()
        try:
            async with reaching_database("rotate the secret"):
                issued = await self.service.rotate_secret(channel_id, self.user_id)
        except Exception as exc:  # the page's boundary
            say(self.channels_alert, problem_text(exc, "rotating the secret"))
            return
        say(self.channels_alert, None)
        if issued.secret is not None:
            self.secret.show(
                issued.secret,
                f"<p><strong>The new signing secret of “{html.escape(issued.channel.name)}”: copy it now, "
                "it will not be shown again.</strong> The old one no longer signs.</p>",
            )
        await self.refresh_channels()

    async def _on_rotate(self, _event: object) -> None:
        if self.rotate_bar.target is not None:
            await self.rotate(self.rotate_bar.target)

    async def delete_channel(self, channel_id: str) -> None:
        """Delete one of the user's channels."""
        self.delete_bar.close()
        self._clear_form_errors()
        try:
            async with reaching_database("delete the channel"):
                await self.service.delete_channel(channel_id, self.user_id)
        except Exception as exc:  # the page's boundary
            say(self.channels_alert, problem_text(exc, "deleting the channel"))
        else:
            say(self.channels_alert, None)
        await self.refresh_channels()

    async def _on_delete_channel(self, _event: object) -> None:
        if self.delete_bar.target is not None:
            await self.delete_channel(self.delete_bar.target)

    async def refresh_channels(self) -> None:
        """Read the channels again."""
        try:
            async with reaching_database("read your channels"):
                channels = await self.service.channels(self.user_id)
        except Exception as exc:  # the page's boundary
            say(self.channels_alert, problem_text(exc, "reading your channels"))
            return
        self._channels = {ch.id: ch for ch in channels}
        set_on_page(self.channels_table, html=channels_table(channels, self.timezone))

    # ---- preferences -----------------------------------------------------------------------------

    def _build_preferences(self) -> None:
        self.grid = PreferenceGrid(
            events=[[event, *EVENT_LABELS.get(event, (kind_label(event), ""))] for event in EVENTS],
            channels=GRID_CHANNELS,
            value={},
            margin=(5, 10),
        )
        self.quiet_start = pn.widgets.TextInput(label="Quiet from", placeholder="22:00", width=150)
        self.quiet_end = pn.widgets.TextInput(label="Quiet until", placeholder="07:00", width=150)
        self.quiet_zone = pn.widgets.AutocompleteInput(
            label="Quiet hours timezone",
            options=list(timezone_names()),
            restrict=False,
            case_sensitive=False,
            search_strategy="includes",
            min_characters=1,
            placeholder="Your account's",
            width=260,
        )
        self.cap = pn.widgets.TextInput(label="Daily cap", placeholder="no cap", width=140)
        self.summary = pn.widgets.Select(label="Summary", options=SUMMARIES, value="off", width=140)
        self.pref_errors = {
            name: FieldError(name)
            for name in (
                "events",
                "quiet_hours.start",
                "quiet_hours.end",
                "quiet_hours.timezone",
                "daily_cap",
                "summary",
            )
        }
        self.save_prefs_button = pn.widgets.Button(label="Save preferences", color="primary", width=170)
        self.save_prefs_button.on_click(self._on_save_preferences)
        self.prefs_alert = make_alert()

    def _show_preferences(self, prefs: Preferences) -> None:
        doc = prefs.document()
        quiet = doc.get("quiet_hours")

        def apply() -> None:
            self.grid.value = doc["events"]
            self.quiet_start.value = quiet["start"] if quiet else ""
            self.quiet_end.value = quiet["end"] if quiet else ""
            self.quiet_zone.value = (quiet or {}).get("timezone") or ""
            self.cap.value = "" if doc.get("daily_cap") is None else str(doc["daily_cap"])
            self.summary.value = doc.get("summary") or "off"

        on_page(apply)

    def _preference_changes(self) -> dict[str, Any] | None:
        """The fields this form edits, as the service takes them; None (errors shown) when one cannot
        even be read."""
        cap_text = _typed(self.cap)
        cap: int | None = None
        if cap_text:
            try:
                cap = int(cap_text)
            except ValueError:
                self.pref_errors["daily_cap"].show(field_message("daily_cap", "integer"))
                return None
        start, end = _typed(self.quiet_start), _typed(self.quiet_end)
        zone = _typed(self.quiet_zone)
        quiet = None
        if start or end or zone:  # all empty: no quiet hours
            for key, value in (("quiet_hours.start", start), ("quiet_hours.end", end)):
                if not value:
                    self.pref_errors[key].show("give both times for quiet hours, or leave all three empty")
                    return None
            quiet = {"start": start, "end": end, "timezone": zone or None}
        return {
            "events": {event: list(self.grid.value.get(event, [])) for event in EVENTS},
            "quiet_hours": quiet,
            "daily_cap": cap,
            "summary": self.summary.value,
        }

    async def save_preferences(self) -> None:
        """Store the form's preferences; each problem is said under its field, and then nothing is
        stored."""
        for error in self.pref_errors.values():
            error.show(None)
        say(self.prefs_alert, None)
        changes = self._preference_changes()
        if changes is None:
            say(self.prefs_alert, "Nothing was saved: correct what is marked.")
            return
        set_on_page(self.save_prefs_button, loading=True)
        try:
            async with reaching_database("save your preferences"):
                prefs = await self.service.update_preferences(self.user_id, changes)
        except InvalidFields as exc:
            for name, message in exc.problems:
                key = self._error_key(name)
                self.pref_errors[key].show(field_message(key, message))
            say(self.prefs_alert, "Nothing was saved: correct what is marked.")
            return
        except Exception as exc:  # the page's boundary
            say(self.prefs_alert, problem_text(exc, "saving your preferences"))
            return
        finally:
            set_on_page(self.save_prefs_button, loading=False)
        if self._forget is not None:
            self._forget(self.user_id)
        self._show_preferences(prefs)
        say(self.prefs_alert, "Saved: new notifications follow these preferences.", "success")

    def _error_key(self, name: str) -> str:
        """The field a problem's location is about."""
        if name in self.pref_errors:
            return name
        if name.startswith("events"):
            return "events"
        if name.startswith("quiet_hours"):
            return "quiet_hours.start"
        return "summary" if name == "summary" else "events"

    async def _on_save_preferences(self, _event: object) -> None:
        await self.save_preferences()

    # ---- delivery log ----------------------------------------------------------------------------

    def _build_log(self) -> None:
        self.log_status = pn.widgets.Select(label="Status", options=STATUS_CHOICES, value="", width=160)
        self.log_status.param.watch(self._on_log_filter, "value")
        self.log_refresh = pn.widgets.Button(label="Refresh", width=100, align="end")
        self.log_refresh.on_click(self._on_log_refresh)
        self.log_alert = make_alert()
        self.log_table = pn.pane.HTML(
            "<p class='wb-empty'>Loading…</p>",
            stylesheets=[TABLE_CSS, ACTION_CSS, STATUS_CSS],
            sizing_mode="stretch_width",
            styles={"overflow-x": "auto"},
        )

    async def refresh_log(self) -> None:
        """Read the delivery log again."""
        try:
            async with reaching_database("read the delivery log"):
                found = await self.service.deliveries(self.user_id, status=self.log_status.value or None)
        except Exception as exc:  # the page's boundary
            say(self.log_alert, problem_text(exc, "reading the delivery log"))
            return
        say(self.log_alert, None)
        set_on_page(self.log_table, object=deliveries_table(found, self.timezone))

    async def _on_log_filter(self, _event: object) -> None:
        await self.refresh_log()

    async def _on_log_refresh(self, _event: object) -> None:
        await self.refresh_log()

    # ---- loading and layout ----------------------------------------------------------------------

    async def load(self) -> None:
        """Read the channels, the preferences and the log."""
        await self.refresh_channels()
        try:
            async with reaching_database("read your preferences"):
                prefs = await self.service.preferences(self.user_id)
        except Exception as exc:  # the page's boundary
            say(self.prefs_alert, problem_text(exc, "reading your preferences") + " Reload the page.")
        else:
            self._show_preferences(prefs)
        await self.refresh_log()

    def __panel__(self) -> pn.viewable.Viewable:
        """The section."""
        channels = pn.Column(
            pn.pane.Markdown("### Channels"),
            pn.pane.HTML(
                "<p>Where notifications may go besides the apps. A webhook receives signed JSON; Slack "
                "and Discord take an incoming-webhook URL (a secret: it is stored encrypted and listed "
                "cut to its site).</p>"
            ),
            pn.Row(
                _column(self.kind, self.errors["kind"]),
                _column(self.channel_name, self.errors["name"]),
                _column(self.target_box, self.errors["target"]),
                self.add_channel_button,
            ),
            self.channels_alert,
            self.secret,
            self.channels_table,
            self.delete_bar,
            self.rotate_bar,
            sizing_mode="stretch_width",
        )
        preferences = pn.Column(
            pn.pane.Markdown("### Preferences"),
            pn.pane.HTML(
                "<p>Which events reach you where. Email without an email channel goes to your account's "
                "address; webhooks, Slack and Discord need a channel above. Messages always reach the "
                "apps when they could go nowhere else.</p>"
            ),
            self.grid,
            self.pref_errors["events"],
            pn.pane.HTML(
                "<p><strong>Quiet hours</strong>: email, webhooks and chats wait until they end (the "
                "apps still get everything at once). Leave the three fields empty for none; the "
                "timezone is your account's when left empty.</p>",
                sizing_mode="stretch_width",
            ),
            pn.Row(
                _column(self.quiet_start, self.pref_errors["quiet_hours.start"]),
                _column(self.quiet_end, self.pref_errors["quiet_hours.end"]),
                _column(self.quiet_zone, self.pref_errors["quiet_hours.timezone"]),
            ),
            pn.Row(
                _column(self.cap, self.pref_errors["daily_cap"]),
                _column(self.summary, self.pref_errors["summary"]),
                pn.pane.HTML(
                    "<p class='wb-muted'>The cap counts notifications sent outside the apps per day; "
                    "later ones stay in the apps only. The summary goes where the Summary row says.</p>",
                    stylesheets=[ACTION_CSS],
                    sizing_mode="stretch_width",
                    margin=(22, 10, 0, 10),
                ),
                sizing_mode="stretch_width",
            ),
            self.save_prefs_button,
            self.prefs_alert,
            sizing_mode="stretch_width",
            styles=SUBSECTION_STYLE,
        )
        log = pn.Column(
            pn.pane.Markdown("### Delivery log"),
            pn.pane.HTML(
                "<p>What went out on your channels, newest first, with every retry counted and the "
                "reason when it did not arrive.</p>"
            ),
            pn.Row(self.log_status, self.log_refresh),
            self.log_alert,
            self.log_table,
            sizing_mode="stretch_width",
            styles=SUBSECTION_STYLE,
        )
        return pn.Column(
            pn.pane.Markdown("## Notifications"),
            channels,
            preferences,
            log,
            sizing_mode="stretch_width",
        )
