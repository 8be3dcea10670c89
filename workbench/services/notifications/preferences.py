"""A user's notification preferences: which events go on which channels, per-agent overrides, quiet
hours and a daily cap.

The document (``GET``/``PUT /api/v1/notifications/preferences``)::

    {
      "events": {"run_failed": ["in_app", "email"], "run_completed": [], ...},
      "agents": {"<graph id>": {"muted": false, "events": {"run_completed": ["slack"]}}},
      "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
      "daily_cap": 50,
      "summary": "off" | "daily" | "weekly"
    }

* ``events``: for each event, the channels it goes on (``in_app``, ``email``, ``webhook``,
  ``slack``, ``discord``); an event left out keeps its default (:data:`DEFAULT_EVENTS`). A channel
  name means every enabled destination of that kind the user set up (``email`` without one: the
  account's address).
* ``agents``: per agent (graph id), ``muted`` (nothing about it but reviews it waits on) and
  ``events`` replacing the user's choice for that agent's events.
* ``quiet_hours``: outside channels are held during them and sent when they end (the inbox still
  gets everything at once); the window may pass midnight; ``timezone`` is an IANA name, the account's
  when left out.
* ``daily_cap``: at most this many notifications a day (in that timezone) go to outside channels;
  later ones are kept in the inbox and their outside deliveries are suppressed, saying so. Null:
  no cap.
* ``summary``: a daily or weekly digest of runs, failures, tokens and cost, on the channels of the
  ``summary`` event.

Account mails (password reset, verification) ignore all of this: they always go, by email.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.errors import InvalidFields
from workbench.notify.channel import ChannelName

EVENTS = (
    "run_failed",
    "run_completed",
    "schedule_missed",
    "schedule_failing",
    "review_requested",
    "summary",
    "custom",
)
"""The events a user may route (``custom``: messages of the Notify block without a channel)."""
CHANNELS = tuple(c.value for c in ChannelName)
OUTSIDE = tuple(c for c in CHANNELS if c != ChannelName.IN_APP)
"""Channels that leave the platform (held by quiet hours, counted by the daily cap)."""
DEFAULT_EVENTS: dict[str, list[str]] = {
    "run_failed": ["in_app", "email"],
    "run_completed": [],
    "schedule_missed": ["in_app", "email"],
    "schedule_failing": ["in_app", "email"],
    "review_requested": ["in_app", "email"],
    "summary": ["email"],
    "custom": ["in_app"],
}
MAX_CAP = 10_000
MAX_AGENTS = 1_000

Channel = Literal["in_app", "email", "webhook", "slack", "discord"]
Event = Literal[
    "run_failed",
    "run_completed",
    "schedule_missed",
    "schedule_failing",
    "review_requested",
    "summary",
    "custom",
]


class PreferencesError(InvalidFields):
    """A preferences document that does not hold: ``problems`` names each field."""


def _unique(channels: list[str]) -> list[str]:
    return list(dict.fromkeys(channels))


class QuietHours(BaseModel):
    """A daily window in which outside channels are held (it may pass midnight)."""

    model_config = ConfigDict(extra="forbid")
    start: time = Field(description="When quiet hours begin, local time (`22:00`).")
    end: time = Field(description="When they end, local time (`07:00`).")
    timezone: str | None = Field(default=None, description="IANA name; the account's timezone when null.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            _zone(value)
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: time, info: Any) -> time:
        if info.data.get("start") == value:
            raise ValueError("start and end are the same: the window would be empty")
        return value


class AgentOverride(BaseModel):
    """What one agent's events do, instead of the user's general choice."""

    model_config = ConfigDict(extra="forbid")
    muted: bool = False
    events: dict[Event, list[Channel]] = Field(default_factory=dict)

    @field_validator("events")
    @classmethod
    def _dedupe(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {event: _unique(channels) for event, channels in value.items()}


class Preferences(BaseModel):
    """The whole document (see the module documentation)."""

    model_config = ConfigDict(extra="forbid")
    events: dict[Event, list[Channel]] = Field(default_factory=dict)
    agents: dict[str, AgentOverride] = Field(default_factory=dict, max_length=MAX_AGENTS)
    quiet_hours: QuietHours | None = None
    daily_cap: int | None = Field(default=None, ge=1, le=MAX_CAP)
    summary: Literal["off", "daily", "weekly"] = "off"

    @field_validator("events")
    @classmethod
    def _dedupe(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {event: _unique(channels) for event, channels in value.items()}

    @field_validator("agents")
    @classmethod
    def _graph_ids(cls, value: dict[str, AgentOverride]) -> dict[str, AgentOverride]:
        out = {}
        for key, override in value.items():
            try:
                out[str(uuid.UUID(key))] = override
            except ValueError:
                raise ValueError(f"agent keys must be graph ids (UUIDs), not {key!r}") from None
        return out

    @classmethod
    def parse(cls, doc: Any) -> Preferences:
        """The preferences in ``doc``; PreferencesError naming every bad field."""
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            problems = [
                (".".join(str(p) for p in err["loc"]) or "preferences", err["msg"]) for err in exc.errors()
            ]
            raise PreferencesError(problems) from None

    def document(self) -> dict[str, Any]:
        """The JSON form, with every event's channels filled in (defaults included)."""
        doc = self.model_dump(mode="json")
        doc["events"] = {event: self.channels_for(event) for event in EVENTS}
        if self.quiet_hours is not None:
            doc["quiet_hours"] = {
                "start": self.quiet_hours.start.strftime("%H:%M"),
                "end": self.quiet_hours.end.strftime("%H:%M"),
                "timezone": self.quiet_hours.timezone,
            }
        return doc

    def channels_for(self, event: str, graph_id: str | None = None) -> list[str]:
        """The channels ``event`` (about agent ``graph_id``) goes on."""
        override = self.agents.get(graph_id) if graph_id else None
        if override is not None:
            if override.muted and event != "review_requested":
                return []
            if event in override.events:
                return list(override.events[event])  # type: ignore[index]
        if event in self.events:
            return list(self.events[event])  # type: ignore[index]
        return list(DEFAULT_EVENTS.get(event, []))

    def zone(self, account_timezone: str | None) -> ZoneInfo:
        """The timezone quiet hours and the daily cap count in."""
        name = (self.quiet_hours.timezone if self.quiet_hours else None) or account_timezone or "UTC"
        try:
            return _zone(name)
        except ValueError:
            return ZoneInfo("UTC")

    def quiet_until(self, now: datetime, account_timezone: str | None) -> datetime | None:
        """When the quiet hours ``now`` falls in end (UTC), or None outside them."""
        quiet = self.quiet_hours
        if quiet is None:
            return None
        zone = self.zone(account_timezone)
        local = now.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        if quiet.start < quiet.end:
            inside = quiet.start <= clock < quiet.end
        else:  # passes midnight
            inside = clock >= quiet.start or clock < quiet.end
        if not inside:
            return None
        day = local.date() if clock < quiet.end else local.date() + timedelta(days=1)
        end = datetime.combine(day, quiet.end, tzinfo=zone)
        return end.astimezone(UTC)

    def day_start(self, now: datetime, account_timezone: str | None) -> datetime:
        """The start (UTC) of the user's day ``now`` is in: the daily cap counts from there."""
        zone = self.zone(account_timezone)
        local = now.astimezone(zone)
        return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (an IANA name such as 'Europe/Berlin')") from None
