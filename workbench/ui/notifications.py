"""The inbox (``/notifications``, where the header's bell leads): the user's in-app notifications,
newest first, live.

A table (one HTML string, as the other pages' tables): when, what about, the title, the agent, a link
to the run's page, read or not, with buttons to mark one read or unread and to delete it (asked
first). Opening a notification (its title) shows its text under its row and marks it read. "Unread
only" filters, "Mark all read" marks every one of the user's. A notification that arrives while the
page is open appears at the top, marked new; the count in the header follows (both from the
session's :class:`~workbench.ui.notifications_data.LiveNotifications`, one subscription per session).

The data and its actions are :class:`~workbench.ui.notifications_data.InboxStore`; nothing here
decides anything about notifications.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from workbench.services.notifications.service import NotificationService
from workbench.store.database import reaching_database
from workbench.ui.action_table import ACTION_CSS, ActionTable, action_button
from workbench.ui.context import UiContext
from workbench.ui.monitor_data import run_href
from workbench.ui.notifications_data import InboxItem, InboxStore, LiveNotifications, kind_label
from workbench.ui.sections import ConfirmBar, make_alert, on_page, say, when
from workbench.ui.tables import TABLE_CSS

INBOX_CSS = """
.wb-table tr.wb-unread td { background: #eff6ff; }
.wb-table tr.wb-unread td[data-field="title"] button { font-weight: 700; }
.wb-table td[data-field="title"] { white-space: normal; width: 100%; min-width: 14rem; }
button.wb-open { font: inherit; background: none; border: 0; padding: 0; color: #1d4ed8; cursor: pointer;
  text-align: left; text-decoration: underline; text-underline-offset: 2px; }
button.wb-open:hover { color: #1e3a8a; }
.wb-dot { display: inline-block; width: 0.6rem; height: 0.6rem; border-radius: 50%; background: #1d4ed8; }
.wb-read { color: #4b5563; }
.wb-new { display: inline-block; margin-left: 0.4rem; padding: 0 0.4rem; border-radius: 0.6rem;
  background: #fef3c7; color: #78350f; font-size: 0.75rem; font-weight: 700; }
.wb-table tr.wb-detail td { white-space: normal; background: #f9fafb; border-bottom: 2px solid #9ca3af; }
.wb-note-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.2rem 0 0.6rem; color: #111827;
  font-size: 0.95rem; line-height: 1.45; max-height: 24rem; overflow-y: auto; }
.wb-note-actions { display: flex; gap: 0.5rem; flex-wrap: wrap; align-items: center; }
.wb-actions { display: flex; gap: 0.4rem; }
.wb-table td[data-field="state"] { width: 2.5rem; }
"""
SHOW = {"All": False, "Unread only": True}
"""The filter's choices: whether only unread notifications are shown."""
FIELDS = ["state", "time", "kind", "title", "agent", "run", "action"]
HEADERS = ["", "Time", "Kind", "Title", "Agent", "Run", ""]


def _run_link(item: InboxItem) -> str:
    if not item.execution_id:
        return ""
    return f'<a href="{html.escape(run_href(item.execution_id))}">Open run</a>'


def _detail(item: InboxItem) -> str:
    text = html.escape(item.text) if item.text.strip() else '<span class="wb-muted">(no text)</span>'
    link = _run_link(item)
    toggle = (
        action_button("unread", item.id, "Mark unread")
        if item.read
        else action_button("read", item.id, "Mark read")
    )
    return (
        f'<div class="wb-note-text" data-note="{html.escape(item.id)}">{text}</div>'
        f'<div class="wb-note-actions">{link}{toggle}'
        f"{action_button('delete', item.id, 'Delete', danger=True)}"
        f"{action_button('open', item.id, 'Close')}</div>"
    )


def inbox_html(
    items: Sequence[InboxItem], zone: str, *, selected: str = "", fresh: Sequence[str] = (), empty: str = ""
) -> str:
    """The inbox as an HTML table: unread rows marked, the opened one's text under it; user text
    (titles, agent names, texts) escaped."""
    if not items:
        return f'<p class="wb-empty">{html.escape(empty or "No notifications.")}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    rows = []
    new = set(fresh)
    for item in items:
        ident = html.escape(item.id)
        opened = item.id == selected
        state = (
            '<span class="wb-read" title="read">read</span>'
            if item.read
            else '<span class="wb-dot" role="img" aria-label="unread" title="unread"></span>'
        )
        stamp = html.escape(when(item.created_at, zone)) + (
            '<span class="wb-new">new</span>' if item.id in new else ""
        )
        title = (
            f'<button type="button" class="wb-open" data-action="open" data-id="{ident}" '
            f'aria-expanded="{"true" if opened else "false"}">{html.escape(item.title or "(untitled)")}</button>'
        )
        toggle = (
            action_button("unread", item.id, "Mark unread", title="Mark as not read")
            if item.read
            else action_button("read", item.id, "Mark read", title="Mark as read")
        )
        delete = action_button("delete", item.id, "Delete", danger=True, title="Delete this notification")
        cells = [
            state,
            stamp,
            html.escape(kind_label(item.kind)),
            title,
            html.escape(item.agent),
            _run_link(item),
            f'<span class="wb-actions">{toggle}{delete}</span>',
        ]
        body = "".join(f'<td data-field="{f}">{c}</td>' for f, c in zip(FIELDS, cells, strict=True))
        css = "wb-row" + ("" if item.read else " wb-unread")
        rows.append(f'<tr class="{css}" data-id="{ident}">{body}</tr>')
        if opened:
            rows.append(
                f'<tr class="wb-detail" data-detail="{ident}"><td colspan="{len(FIELDS)}">{_detail(item)}</td></tr>'
            )
    return f'<table class="wb-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class InboxPage(Viewer):
    """The inbox of one user, live while the page is open."""

    store = param.ClassSelector(class_=InboxStore, doc="The notifications shown and their actions.")
    live = param.ClassSelector(class_=LiveNotifications, doc="The session's unread count and new ones.")
    timezone = param.String(default="UTC", doc="The account's timezone (times are shown in it).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._doc = pn.state.curdoc
        """The session's document: new notifications arrive from the feed's task, outside callbacks."""
        self._summary = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        # Buttons, not a checkbox: Bokeh 3.9's checkbox has no accessible name.
        self.show = pn.widgets.RadioButtonGroup(
            label="Show",
            options=list(SHOW),
            value="All",
            color="primary",
            button_style="outline",
            align="center",
            width=220,
        )
        self.show.param.watch(self._on_filter, "value")
        self.mark_all = pn.widgets.Button(
            label="Mark all read", color="primary", button_style="outline", width=140, align="center"
        )
        self.mark_all.on_click(self._on_mark_all)
        self.alert = make_alert()
        self.notice = make_alert("success")
        self.table = ActionTable(
            on_action=self._on_action,
            html="<p class='wb-empty'>Loading…</p>",
            stylesheets=[TABLE_CSS, ACTION_CSS, INBOX_CSS],
            margin=(12, 10, 5, 10),
        )
        self.delete_bar = ConfirmBar("Yes, delete")
        self.delete_bar.yes.on_click(self._on_delete)
        self.older = pn.widgets.Button(label="Show older", width=140, visible=False)
        self.older.on_click(self._on_older)
        self._pending = False
        self.store.param.watch(
            self._changed, ["items", "selected", "fresh", "has_older", "read_once", "error"]
        )
        self.live.param.watch(self._changed, ["unread"])
        self.live.listen(self.store.arrived)

    # ---- showing ---------------------------------------------------------------------------------

    def _changed(self, *_events: object) -> None:
        """Paint once per tick whatever changed (one patch to the browser)."""
        if self._pending:
            return
        self._pending = True

        def paint() -> None:
            self._pending = False
            self.paint()

        on_page(paint, doc=self._doc)

    def paint(self) -> None:
        """Put the store's state on the page."""
        store = self.store
        if store.read_once:
            empty = "No unread notifications." if store.unread_only else "No notifications yet."
            self.table.html = inbox_html(
                store.items, self.timezone, selected=store.selected, fresh=store.fresh, empty=empty
            )
        unread = self.live.unread
        count = (
            "Counting…" if unread < 0 else f"<strong>{unread}</strong> unread" if unread else "Nothing unread"
        )
        self._summary.object = (
            f"<p>{count}. New notifications appear here as they come; times are in "
            f"{html.escape(self.timezone)}. Choose what reaches you, and where, under "
            '<a href="/profile">Profile → Notifications</a>.</p>'
        )
        self.older.visible = store.has_older
        self.mark_all.disabled = unread == 0
        self.alert.alert_type = "danger"
        self.alert.object = html.escape(store.error)
        self.alert.visible = bool(store.error)

    # ---- actions ---------------------------------------------------------------------------------

    async def load(self, accounts: Any = None) -> None:
        """Read the timezone and the first page."""
        if accounts is not None:
            try:
                async with reaching_database("read your account"):
                    self.timezone = (await accounts.me(self.store.user_id)).timezone or "UTC"
            except Exception:  # times then show in UTC, and the list says what is wrong, if anything
                self.timezone = "UTC"
        await self.store.load()
        self._changed()

    def _on_action(self, action: str, notification_id: str) -> None:
        say(self.notice, None)
        item = self.store.find(notification_id)
        if item is None:
            return
        if action == "delete":
            self.delete_bar.ask(
                notification_id,
                f"<p>Delete the notification <strong>{html.escape(item.title)}</strong>? Its delivery "
                "log entries go with it.</p>",
            )
            return
        if action not in ("open", "read", "unread"):
            return

        async def act() -> None:
            if action == "open":
                await self.store.open(notification_id)
            else:
                await self.store.mark(notification_id, read=action == "read")
            await self.live.recount()

        pn.state.execute(act)

    async def _on_delete(self, _event: object) -> None:
        target = self.delete_bar.target
        self.delete_bar.close()
        if target is not None and await self.store.delete(target):
            await self.live.recount()

    async def _on_mark_all(self, _event: object) -> None:
        changed = await self.store.mark_all()
        await self.live.recount()
        if changed is not None:
            say(self.notice, f"Marked {changed} notification{'s' if changed != 1 else ''} read.", "success")

    async def _on_filter(self, event: param.parameterized.Event) -> None:
        self.store.unread_only = SHOW.get(event.new, False)
        self.store.selected = ""
        await self.store.load()

    async def _on_older(self, _event: object) -> None:
        await self.store.older()

    def __panel__(self) -> pn.viewable.Viewable:
        """The page."""
        return pn.Column(
            pn.pane.Markdown("## Notifications", margin=(0, 10)),
            self._summary,
            pn.Row(self.show, self.mark_all),
            self.alert,
            self.notice,
            self.table,
            self.delete_bar,
            self.older,
            sizing_mode="stretch_width",
            max_width=1200,
        )


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The inbox for one browser session; its data loads once the page is shown."""
    if ctx.notifications is None:
        return pn.pane.Alert(
            "Notifications need the database, and this server has none.",
            alert_type="danger",
            sizing_mode="stretch_width",
        )
    page = InboxPage(store=InboxStore(NotificationService.of(ctx.wb), ctx.user_id), live=ctx.notifications)

    async def load() -> None:
        await page.load(ctx.wb.accounts)

    pn.state.onload(load)
    return page
