"""The Library's schedule form: the fields the schedule service takes, the next fire times previewed as
they are typed (the service's own checks, nothing stored), its refusals shown field by field; and how a
schedule and its fire times read in the page's tables."""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import panel as pn
import param
from panel.viewable import Viewer

from workbench.errors import InvalidFields
from workbench.store.schedules import ScheduleRecord
from workbench.ui.library_store import LibraryStore
from workbench.ui.monitor_data import describe_error, format_seconds

KINDS = {
    "Cron expression": "CRON",
    "Every N seconds": "INTERVAL",
    "Daily": "DAILY",
    "Weekly": "WEEKLY",
    "Once": "ONCE",
}
"""The schedule types, as the form names them."""
KIND_FIELDS = {
    "CRON": ("cron_expression",),
    "INTERVAL": ("interval_seconds", "run_at"),
    "DAILY": ("time_of_day",),
    "WEEKLY": ("time_of_day", "weekdays"),
    "ONCE": ("run_at",),
}
"""The timing fields each type uses (the others are hidden and not sent)."""
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SCHEDULE_CSS = """
.wb-active { color: #166534; font-weight: 600; }
.wb-paused { color: #92400e; font-weight: 600; }
.wb-completed { color: #4b5563; font-weight: 600; }
ul.wb-fires { margin: 0.2rem 0; padding-left: 1.2rem; }
.wb-fires li { font-variant-numeric: tabular-nums; }
.wb-preview-error { color: #991b1b; }
.wb-preview-error ul { margin: 0.2rem 0; padding-left: 1.2rem; }
"""
"""The preview's list and the schedules' status words."""


def fire_time(moment: datetime, timezone: str) -> str:
    """A fire time as the schedule's zone reads it: ``Wed 2026-12-02 09:00 CET``."""
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M:%S %Z")


def describe_when(s: ScheduleRecord) -> str:
    """When a schedule fires, in words: ``cron 0 9 * * 1-5``, ``every 90 s``, ``weekly mon, fri at 18:00``."""
    if s.schedule_type == "CRON":
        return f"cron {s.cron_expression}"
    if s.schedule_type == "INTERVAL":
        return f"every {format_seconds(float(s.interval_seconds or 0)) or s.interval_seconds}"
    at = s.time_of_day.strftime("%H:%M:%S").removesuffix(":00") if s.time_of_day else ""
    if s.schedule_type == "DAILY":
        return f"daily at {at}"
    if s.schedule_type == "WEEKLY":
        return f"weekly {', '.join(s.weekdays or [])} at {at}"
    return f"once at {fire_time(s.run_at, s.timezone)}" if s.run_at else "once"


def problems_html(exc: BaseException) -> str:
    """A refusal as a person reads it: one line per bad field, or the reason."""
    if isinstance(exc, InvalidFields):
        items = "".join(
            f"<li><code>{html.escape(field)}</code>: {html.escape(message)}</li>"
            for field, message in exc.problems
        )
        return f"<ul class='wb-problems'>{items}</ul>"
    return f"<p>{html.escape(describe_error(exc))}</p>"


class ScheduleForm(Viewer):
    """A new schedule of one agent: its fields, the preview of its next fire times, Save."""

    store = param.ClassSelector(class_=LibraryStore, doc="Where previews and saves go.")
    graph_id = param.String(default="", doc="The agent the schedule runs.")

    def __init__(
        self,
        *,
        versions: Sequence[int] = (),
        inputs: Mapping[str, Any] | None = None,
        on_saved: Callable[[], Awaitable[None]] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._on_saved = on_saved
        self._seq = 0  # previews answer out of order: only the latest one is shown
        self.name_input = pn.widgets.TextInput(label="Name", placeholder="optional", width=200)
        self.kind = pn.widgets.Select(label="Runs", options=KINDS, value="CRON", width=170)
        self.cron = pn.widgets.TextInput(
            label="Cron expression",
            value="0 9 * * 1-5",
            value_input="0 9 * * 1-5",
            placeholder="min hour day month weekday",
            width=180,
        )
        self.interval = pn.widgets.TextInput(
            label="Interval (seconds)", value="3600", value_input="3600", placeholder="seconds", width=150
        )
        self.run_at = pn.widgets.TextInput(
            label="Start at", placeholder="YYYY-MM-DD HH:MM", width=170, visible=False
        )
        self.time_of_day = pn.widgets.TextInput(
            label="Time of day", value="09:00", value_input="09:00", placeholder="HH:MM", width=110
        )
        self.weekdays = pn.widgets.CheckButtonGroup(
            label="Weekdays", options=WEEKDAYS, value=["mon"], width=330
        )
        self.timezone = pn.widgets.TextInput(label="Timezone", placeholder="your account's (UTC)", width=170)
        version_options: dict[str, str] = {"Active version (at each fire)": ""}
        version_options.update({f"v{v}": str(v) for v in versions})
        self.version = pn.widgets.Select(label="Version", options=version_options, width=220)
        example = json.dumps(dict(inputs or {}), ensure_ascii=False)
        self.inputs = pn.widgets.TextAreaInput(
            label="Inputs (JSON object)",
            value=example,
            placeholder='{"name": "value"}',
            height=70,
            sizing_mode="stretch_width",
        )
        self.preview = pn.pane.HTML("", stylesheets=[SCHEDULE_CSS], sizing_mode="stretch_width")
        self.errors = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.saved = pn.pane.HTML("", stylesheets=[SCHEDULE_CSS], visible=False, align="center")
        self.save = pn.widgets.Button(label="Save schedule", color="primary", icon="device-floppy", width=160)
        self.save.on_click(self._on_save)
        for widget in (self.cron, self.interval, self.run_at, self.time_of_day, self.timezone):
            widget.param.watch(self._on_timing, "value_input")
        for widget in (self.kind, self.weekdays):
            widget.param.watch(self._on_timing, "value")
        self._show_kind()
        self._layout = pn.Column(
            pn.pane.Markdown("### New schedule"),
            pn.Row(self.name_input, self.kind, self.version),
            pn.Row(self.cron, self.interval, self.run_at, self.time_of_day, self.weekdays, self.timezone),
            self.inputs,
            pn.pane.Markdown("**Next fire times** (preview, in the schedule's timezone)", margin=(0, 10)),
            self.preview,
            self.errors,
            pn.Row(self.save, self.saved),
            sizing_mode="stretch_width",
            styles={"border": "1px solid #d1d5db", "border-radius": "6px", "padding": "0.4rem"},
            margin=(15, 5, 5, 5),
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """The form."""
        return self._layout

    def _show_kind(self) -> None:
        used = KIND_FIELDS[self.kind.value]
        self.cron.visible = "cron_expression" in used
        self.interval.visible = "interval_seconds" in used
        self.run_at.visible = "run_at" in used
        self.run_at.label = "Start at (optional)" if self.kind.value == "INTERVAL" else "Run at"
        self.time_of_day.visible = "time_of_day" in used
        self.weekdays.visible = "weekdays" in used

    def timing(self) -> dict[str, Any]:
        """The timing fields as typed (the service checks them; a number that is not one goes as text
        so that its refusal names the field)."""
        kind = self.kind.value
        used = KIND_FIELDS[kind]
        values: dict[str, Any] = {"schedule_type": kind, "timezone": text_of(self.timezone) or None}
        if "cron_expression" in used:
            values["cron_expression"] = text_of(self.cron)
        if "interval_seconds" in used:
            raw = text_of(self.interval)
            values["interval_seconds"] = int(raw) if raw.isdigit() else raw
        if "run_at" in used:
            values["run_at"] = text_of(self.run_at) or None
        if "time_of_day" in used:
            values["time_of_day"] = text_of(self.time_of_day)
        if "weekdays" in used:
            values["weekdays"] = list(self.weekdays.value)
        return values

    def fields(self) -> dict[str, Any]:
        """Every field of the new schedule; InvalidFields when the inputs are not a JSON object."""
        try:
            inputs = json.loads(text_of(self.inputs) or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidFields(
                [("inputs", f"is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
            ) from None
        return {
            **self.timing(),
            "graph_id": self.graph_id,
            "graph_version": int(self.version.value) if self.version.value else None,
            "name": text_of(self.name_input),
            "inputs": inputs,
        }

    async def _on_timing(self, _event: object) -> None:
        if _event is not None and getattr(_event, "obj", None) is self.kind:
            self._show_kind()
        await self.refresh_preview()

    async def refresh_preview(self) -> None:
        """Show the next fire times of the fields as they are now, or what is wrong with them."""
        self._seq += 1
        seq = self._seq
        timing = self.timing()
        try:
            times = await self.store.preview(timing)
        except Exception as exc:  # the page's boundary: a refusal is shown, never raised
            if seq == self._seq:
                self.preview.object = f"<div class='wb-preview-error'>{problems_html(exc)}</div>"
            return
        if seq != self._seq:
            return
        zone = timing["timezone"] or "UTC"
        if timing["timezone"] is None:
            zone = await self._user_zone()
        items = "".join(f"<li>{html.escape(fire_time(t, zone))}</li>" for t in times)
        self.preview.object = f"<ul class='wb-fires'>{items}</ul>" if items else "<p>Never fires.</p>"

    async def _user_zone(self) -> str:
        """The zone a schedule without one gets (the account's), for showing the preview."""
        try:
            return await self.store.default_timezone()
        except Exception:  # shown in UTC then; the save says what is wrong
            return "UTC"

    async def _on_save(self, _event: object) -> None:
        await self.submit()

    async def submit(self) -> ScheduleRecord | None:
        """Save the schedule; a refusal is shown on the form, field by field."""
        self.saved.visible = False
        self.save.loading = True
        try:
            created = await self.store.create_schedule(self.fields())
        except Exception as exc:  # the page's boundary
            self.errors.object = "**The schedule was not saved:**\n\n" + _markdown_problems(exc)
            self.errors.visible = True
            return None
        finally:
            self.save.loading = False
        self.errors.visible = False
        label = created.name or describe_when(created)
        self.saved.object = f"<span class='wb-active'>Saved: {html.escape(label)}.</span>"
        self.saved.visible = True
        self.name_input.value = self.name_input.value_input = ""
        if self._on_saved is not None:
            await self._on_saved()
        return created


def _markdown_problems(exc: BaseException) -> str:
    if isinstance(exc, InvalidFields):
        return "\n".join(f"- `{field}`: {message}" for field, message in exc.problems)
    return describe_error(exc)


def text_of(widget: pn.widgets.TextInput | pn.widgets.TextAreaInput) -> str:
    """What a text box holds now (as typed, before Enter)."""
    return (widget.value_input if widget.value_input is not None else widget.value or "").strip()
