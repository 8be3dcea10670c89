"""When schedules fire: APScheduler triggers in the schedule's IANA timezone, with explicit DST rules.

Every fire time is a pure function of the stored schedule (never of the moment a process computes
it), so two schedulers always agree on it, to the second: that is what makes the UNIQUE
(schedule_id, fire_time) of ``schedule_runs`` stop a fire from happening twice.

* ONCE: at ``run_at``.
* INTERVAL: at ``anchor + k * interval_seconds`` (k >= 0): real elapsed time, unaffected by DST.
* CRON: a standard 5-field crontab (minute hour day-of-month month day-of-week, or ``@daily`` and
  the like), with crontab's meanings: day-of-week 0 and 7 are Sunday, and when both day-of-month and
  day-of-week are restricted, a day matching either fires (APScheduler 3 numbers weekdays from Monday
  and ANDs the two fields; both are translated here).
* DAILY: every day at ``time_of_day``; WEEKLY: at ``time_of_day`` on the given weekdays.

Wall-clock schedules (CRON, DAILY, WEEKLY) follow cron's DST rules, which APScheduler 3 does not get
right with zoneinfo (at the autumn change it returns the same repeated time forever):

* a wall time that does not exist (clocks jump forward) fires shifted forward by the gap: with clocks
  going from 02:00 to 03:00, 02:30 fires at 03:30 (the same instant as a 03:30 fire happens once);
* a wall time that happens twice (clocks go back) fires once, at its first occurrence; except for a
  crontab whose hour field is ``*``, which follows real time and fires at both occurrences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

SCHEDULE_TYPES = ("ONCE", "INTERVAL", "CRON", "DAILY", "WEEKLY")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # crontab numbering, 0 and 7 Sunday
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_DST_WINDOW = timedelta(hours=3)
"""Wider than any DST shift (one hour almost everywhere, 30 minutes on Lord Howe, two hours in the past)."""


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; ValueError if there is no such zone."""
    if not isinstance(name, str) or not name or len(name) > 64 or "\x00" in name or name != name.strip():
        raise ValueError(f"{name!r} is not an IANA timezone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown IANA timezone {name!r} (examples: UTC, Europe/Madrid, America/New_York)"
        ) from None


def resolve_wall_time(wall: datetime, tz: tzinfo, *, both: bool = False) -> list[datetime]:
    """The instants (UTC) of a naive wall-clock time in ``tz``, by the rules above: one instant,
    shifted forward when the time falls in a DST gap; the first of two (or, with ``both``, both)
    when it happens twice."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return [first]
    exists = first.astimezone(tz).replace(tzinfo=None) == wall
    if exists and both:  # an ambiguous time: fold=0 is its first occurrence
        return [first, second]
    return [first]  # ambiguous: the first occurrence; in a gap: fold=0 is shifted forward by the gap


class WallClockTrigger(BaseTrigger):
    """Fires at the wall-clock times of ``calendar`` (a trigger over naive times, evaluated in UTC,
    which has no DST) in the timezone ``tz``, mapping each to instants with :func:`resolve_wall_time`."""

    __slots__ = ("calendar", "repeat_ambiguous", "tz")

    def __init__(self, calendar: BaseTrigger, tz: tzinfo, *, repeat_ambiguous: bool = False) -> None:
        self.calendar = calendar
        self.tz = tz
        self.repeat_ambiguous = repeat_ambiguous

    def _next_wall(self, after: datetime | None, at_or_after: datetime | None = None) -> datetime | None:
        if after is None:
            found = self.calendar.get_next_fire_time(None, at_or_after.replace(tzinfo=UTC))  # type: ignore[union-attr]
        else:
            aware = after.replace(tzinfo=UTC)
            found = self.calendar.get_next_fire_time(aware, aware)
        return found.replace(tzinfo=None) if found is not None else None

    def _instants(self, wall: datetime) -> list[datetime]:
        return resolve_wall_time(wall, self.tz, both=self.repeat_ambiguous)

    def _offset(self, instant: datetime) -> timedelta:
        return instant.astimezone(self.tz).utcoffset() or timedelta(0)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire instant after ``previous_fire_time`` (if given), else at or after ``now``."""
        start = (
            previous_fire_time.astimezone(UTC) + _US
            if previous_fire_time is not None
            else now.astimezone(UTC)
        )
        offsets = [self._offset(start + d) for d in (-_DAY, timedelta(0), _DAY)]
        # The earliest wall time that can map to an instant at or after start.
        wall = (start + min(offsets)).replace(tzinfo=None)
        best: datetime | None = None
        best_wall: datetime | None = None
        candidate = self._next_wall(None, wall)
        while candidate is not None:
            later = [i for i in self._instants(candidate) if i >= start]
            if later:
                best, best_wall = min(later), candidate
                break
            candidate = self._next_wall(candidate)
        if best is None or best_wall is None:
            return None
        # Mapping wall times to instants is monotonic except across a DST change: there, a later wall
        # time may map to an earlier instant. Look a little further only when a change is near.
        if self._offset(best - _DST_WINDOW) != self._offset(best + _DST_WINDOW):
            candidate = self._next_wall(best_wall)
            while candidate is not None and candidate <= best_wall + _DST_WINDOW:
                for instant in self._instants(candidate):
                    if start <= instant < best:
                        best = instant
                candidate = self._next_wall(candidate)
        return best  # in UTC: aware arithmetic and comparisons in a zone with DST are wall-clock ones

    def __str__(self) -> str:
        return f"wallclock[{self.calendar}, {self.tz}]"

    def __repr__(self) -> str:
        return f"<WallClockTrigger ({self.calendar!r}) tz={self.tz}>"


def _crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 and 7 Sunday, names, ranges, steps) as APScheduler weekday names."""
    days: set[int] = set()
    for part in field.lower().split(","):
        spec, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"day-of-week {field!r}: bad step {step_text!r}")
            step = int(step_text)
        if spec == "*":
            low, high = 0, 6
        else:
            low_text, dash, high_text = spec.partition("-")
            low = _weekday_number(low_text, field)
            high = _weekday_number(high_text, field) if dash else (6 if slash else low)
            if high < low:
                raise ValueError(f"day-of-week {field!r}: range {spec!r} goes backwards")
        days.update(d % 7 for d in range(low, high + 1, step))
    if not days:
        raise ValueError(f"day-of-week {field!r} selects no day")
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _weekday_number(text: str, field: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ValueError(f"day-of-week {field!r}: {text!r} is not a weekday (0-7 or sun..sat)")


def crontab_trigger(expression: str, tz: tzinfo) -> WallClockTrigger:
    """A trigger for a 5-field crontab expression (or a macro such as ``@daily``); ValueError if bad."""
    if not isinstance(expression, str) or "\x00" in expression or len(expression) > 200:
        raise ValueError("not a crontab expression")
    text = CRON_MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"a crontab expression has 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minute, hour, day, month, day_of_week = fields
    # Validate the fields as APScheduler reads them (its own crontab parser, from_crontab).
    CronTrigger.from_crontab(f"{minute} {hour} {day} {month} *", timezone=UTC)
    weekdays = _crontab_weekdays(day_of_week)
    common = {"minute": minute, "hour": hour, "month": month, "second": "0", "timezone": UTC}
    calendar: BaseTrigger
    if not day.startswith("*") and not day_of_week.startswith("*"):
        # crontab: when both are restricted, a day matching either field fires.
        calendar = OrTrigger(
            [
                CronTrigger(day=day, day_of_week="*", **common),
                CronTrigger(day="*", day_of_week=weekdays, **common),
            ]
        )
    else:
        calendar = CronTrigger(day=day, day_of_week=weekdays, **common)
    return WallClockTrigger(calendar, tz, repeat_ambiguous=hour.startswith("*"))


def daily_trigger(at: time, tz: tzinfo, weekdays: Sequence[str] | None = None) -> WallClockTrigger:
    """Every day (or on ``weekdays``) at the wall-clock time ``at``."""
    days = ",".join(weekdays) if weekdays else "*"
    calendar = CronTrigger(hour=at.hour, minute=at.minute, second=at.second, day_of_week=days, timezone=UTC)
    return WallClockTrigger(calendar, tz)


def interval_trigger(seconds: int, anchor: datetime) -> IntervalTrigger:
    """Every ``seconds`` seconds of real time, on the grid that starts at ``anchor``."""
    return IntervalTrigger(seconds=seconds, start_date=anchor.astimezone(UTC), timezone=UTC)


def once_trigger(at: datetime) -> DateTrigger:
    """Once, at ``at``."""
    return DateTrigger(run_date=at.astimezone(UTC), timezone=UTC)


def upcoming(trigger: BaseTrigger, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` fire times at or after ``after`` (fewer if the trigger ends), in UTC."""
    found: list[datetime] = []
    previous: datetime | None = None
    now = after
    while len(found) < count:
        nxt = trigger.get_next_fire_time(previous, now)
        if nxt is None:
            break
        nxt = nxt.astimezone(UTC)
        if nxt >= after:
            found.append(nxt)
        if previous is not None and nxt <= previous:  # a trigger that does not advance: stop
            break
        previous, now = nxt, nxt + _US
        if isinstance(trigger, DateTrigger):
            break
    return found


_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def parse_time_of_day(text: str) -> time:
    """``HH:MM`` or ``HH:MM:SS`` (24-hour clock); ValueError otherwise."""
    m = _TIME.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a time of day (HH:MM or HH:MM:SS, 24-hour clock)")
    return time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
