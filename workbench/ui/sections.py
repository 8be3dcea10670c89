"""What the sections of the account pages (Profile, its Notifications part, the inbox) share: widget
changes sent reliably, alerts and errors next to fields, the confirm bar, a secret shown once with a
Copy button, times in the user's timezone, and what a failure says.

**Why changes go through** :func:`on_page`: left to itself, Panel sends a change made outside a hold
on its own (``panel.io.document.unlocked``), and queues it when the websocket is busy writing; in
Panel 1.9.4 a queued message can be stranded (a finishing ``_dispatch_msgs`` clears the write block
while a newer dispatch is pending, which then returns without writing) until the page's next change:
a click's outcome never reached the browser (the revoked key still listed, no "Saved", the deleted
credential still there). Every callback of these pages therefore changes widgets through it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import panel as pn
import param
from bokeh.document import Document
from panel.viewable import Viewer

from workbench.errors import StoreError, WorkbenchError
from workbench.ui.action_table import ACTION_CSS

log = logging.getLogger(__name__)

SECTION_STYLE = {"border": "1px solid #d1d5db", "border-radius": "6px", "padding": "0 14px 10px"}
"""A section of a page: a light frame."""
KEY_FIELD_CSS = (
    ":host input:disabled { color: #111827; opacity: 1; background: #f9fafb; font-family: monospace; "
    "font-size: 0.95rem; line-height: 1.5; height: auto; padding: 6px 8px; }"
)
"""A secret's read-only field: as readable as any text (a disabled input is grey by default)."""
COPY_JS = """
const text = field.value;
const done = () => { btn.label = 'Copied'; };
const fallback = () => {
  const area = document.createElement('textarea');
  area.value = text;
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  try { document.execCommand('copy'); done(); } finally { area.remove(); }
};
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).then(done, fallback);
} else {
  fallback();
}
"""
"""A Copy button: to the clipboard in the browser (the secret never makes another trip to the server)."""
FIELD_ERROR_CSS = ":host { color: #991b1b; font-size: 0.88rem; } p { margin: 0; }"
"""A field's error, under it: dark red on white (contrast 8.6:1)."""


def problem_text(exc: BaseException, what: str) -> str:
    """What a person reads when ``what`` failed: the service's own words for a mistake, the database
    gone, or something else (logged with its traceback, which the page never shows)."""
    if isinstance(exc, StoreError):
        return f"The database cannot be reached right now, so {what} did not happen; try again in a moment."
    if isinstance(exc, WorkbenchError):
        return str(exc)
    log.error("%s failed: %s", what, exc, exc_info=exc)
    return f"Something went wrong ({type(exc).__name__}), so {what} did not happen."


def when(moment: datetime | None, zone: str) -> str:
    """A time as the tables show it, in the user's timezone ('' for none)."""
    if moment is None:
        return ""
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def on_page(apply: Callable[[], object], doc: Document | None = None) -> None:
    """Make the widget changes of ``apply`` in a locked callback of the page's document (``doc``, or the
    current one), held, so that Bokeh sends them as one patch when the callback ends (see the module
    documentation). Without a live session (the page being built, tests) ``apply`` runs at once."""
    doc = doc if doc is not None else pn.state.curdoc
    if doc is None or doc.session_context is None:
        apply()
        return

    def held() -> None:
        doc.hold("combine")
        try:
            apply()
        finally:
            doc.unhold()

    doc.add_next_tick_callback(held)


def set_on_page(obj: param.Parameterized, **values: object) -> None:
    """Set parameters of a widget or pane through :func:`on_page`."""
    on_page(lambda: obj.param.update(**values))


def make_alert(kind: str = "danger") -> pn.pane.Alert:
    """A hidden alert for a section's outcome."""
    return pn.pane.Alert("", alert_type=kind, visible=False, sizing_mode="stretch_width")


def say(alert: pn.pane.Alert, text: str | None, kind: str = "danger") -> None:
    """Show ``text`` in ``alert`` (None: hide it)."""

    def show() -> None:
        alert.alert_type = kind
        alert.object = text or ""
        alert.visible = text is not None

    on_page(show)


class FieldError(Viewer):
    """The error of one form field, shown under it (hidden while there is none)."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field
        self.text = ""
        """What it says ('' while hidden)."""
        self._pane = pn.pane.HTML(
            "",
            visible=False,
            stylesheets=[FIELD_ERROR_CSS],
            sizing_mode="stretch_width",
            margin=(0, 10, 4, 10),
            css_classes=["wb-field-error"],
        )

    def show(self, text: str | None) -> None:
        """Say ``text`` (None: hide)."""
        self.text = text or ""
        set_on_page(
            self._pane,
            object=f'<p role="alert">{html.escape(text)}</p>' if text else "",
            visible=bool(text),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """The message."""
        return self._pane


class ConfirmBar(Viewer):
    """'Do this? [Yes] [Cancel]' under a table: what a row button asks before it deletes."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self._text = pn.pane.HTML("", stylesheets=[ACTION_CSS], sizing_mode="stretch_width", align="center")
        self.yes = pn.widgets.Button(label=label, color="danger", width=max(120, 9 * len(label)))
        self._no = pn.widgets.Button(label="Cancel", width=100)
        self._no.on_click(lambda _event: self.close())
        self.target: str | None = None
        self._layout = pn.Row(
            self._text,
            self.yes,
            self._no,
            visible=False,
            sizing_mode="stretch_width",
            styles={"background": "#fef2f2", "border": "1px solid #fecaca", "border-radius": "6px"},
        )

    def ask(self, target: str, question_html: str) -> None:
        """Show the question about ``target``."""
        self.target = target

        def show() -> None:
            self._text.object = question_html
            self._layout.visible = True

        on_page(show)

    def close(self) -> None:
        """Hide it."""
        self.target = None
        on_page(lambda: setattr(self._layout, "visible", False))

    def __panel__(self) -> pn.viewable.Viewable:
        """The bar."""
        return self._layout


class SecretOnce(Viewer):
    """A secret shown once, read-only, with Copy and Done (Done takes it off the page)."""

    def __init__(self, label: str, note_html: str) -> None:
        super().__init__()
        self.field = pn.widgets.TextInput(
            label=label, disabled=True, stylesheets=[KEY_FIELD_CSS], sizing_mode="stretch_width"
        )
        self.copy_button = pn.widgets.Button(label="Copy", icon="copy", width=100, align="end")
        self.copy_button.js_on_click(args={"field": self.field, "btn": self.copy_button}, code=COPY_JS)
        self.done_button = pn.widgets.Button(label="Done", width=100, align="end")
        self.done_button.on_click(lambda _event: self.forget())
        self._default_note = note_html
        self._note = pn.pane.HTML("", sizing_mode="stretch_width")
        """Empty while nothing is shown: the page then holds no trace of a secret box."""
        self._box = pn.Column(
            self._note,
            pn.Row(self.field, self.copy_button, self.done_button, sizing_mode="stretch_width"),
            visible=False,
            sizing_mode="stretch_width",
            styles={
                "background": "#ecfdf5",
                "border": "1px solid #6ee7b7",
                "border-radius": "6px",
                "padding": "0 10px 8px",
            },
        )

    @property
    def shown(self) -> bool:
        """Whether a secret is on the page."""
        return bool(self._box.visible)

    def show(self, secret: str, note_html: str | None = None) -> None:
        """Put ``secret`` on the page (``note_html``: what to say above it, if not the default)."""

        def apply() -> None:
            self._note.object = note_html if note_html is not None else self._default_note
            self.field.value = secret
            self.copy_button.label = "Copy"
            self._box.visible = True

        on_page(apply)

    def forget(self) -> None:
        """Take the secret off the page."""

        def apply() -> None:
            self.field.value = ""
            self._note.object = ""
            self._box.visible = False

        on_page(apply)

    def __panel__(self) -> pn.viewable.Viewable:
        """The box."""
        return self._box
