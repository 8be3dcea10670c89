"""Time blocks: the current time, date and date-time in a time zone, and a countdown (delay) timer."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema

if TYPE_CHECKING:
    from workbench.block.context import RunContext

TimezoneLiteral = Literal[
    "UTC",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Caracas",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Paris",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Tehran",
    "Asia/Dubai",
    "Asia/Kabul",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dhaka",
    "Asia/Yangon",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Australia/Eucla",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Noumea",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
    "Etc/GMT-12",
    "Etc/GMT+12",
]
"""The time zones a format may name (AutoGPT's list, one per UTC offset); the user's may be any."""

_TIMEZONE_DESCRIPTION = "The time zone to use (ignored when use_user_timezone applies)."
_USER_TZ_DESCRIPTION = "Use the time zone of the user's profile instead of `timezone`."
_MICROSECONDS_DESCRIPTION = "Include microseconds in the ISO 8601 output."


# ---- formats: discriminated on the field `discriminator` (AutoGPT's shapes) ---------------------


class TimeStrftimeFormat(BaseModel):
    """Format the time with a strftime pattern."""

    discriminator: Literal["strftime"] = "strftime"
    format: str = Field(default="%H:%M:%S", description="A strftime pattern, e.g. %H:%M:%S.")
    timezone: TimezoneLiteral = Field(default="UTC", description=_TIMEZONE_DESCRIPTION)
    use_user_timezone: bool = Field(default=False, description=_USER_TZ_DESCRIPTION)


class TimeISO8601Format(BaseModel):
    """Format the time as ISO 8601, e.g. T14:03:07+00:00."""

    discriminator: Literal["iso8601"] = "iso8601"
    timezone: TimezoneLiteral = Field(default="UTC", description=_TIMEZONE_DESCRIPTION)
    use_user_timezone: bool = Field(default=False, description=_USER_TZ_DESCRIPTION)
    include_microseconds: bool = Field(default=False, description=_MICROSECONDS_DESCRIPTION)


class DateStrftimeFormat(BaseModel):
    """Format the date with a strftime pattern."""

    discriminator: Literal["strftime"] = "strftime"
    format: str = Field(default="%Y-%m-%d", description="A strftime pattern, e.g. %Y-%m-%d.")
    timezone: TimezoneLiteral = Field(default="UTC", description=_TIMEZONE_DESCRIPTION)
    use_user_timezone: bool = Field(default=False, description=_USER_TZ_DESCRIPTION)


class DateISO8601Format(BaseModel):
    """Format the date as ISO 8601 (YYYY-MM-DD)."""

    discriminator: Literal["iso8601"] = "iso8601"
    timezone: TimezoneLiteral = Field(default="UTC", description=_TIMEZONE_DESCRIPTION)
    use_user_timezone: bool = Field(default=False, description=_USER_TZ_DESCRIPTION)


class StrftimeFormat(BaseModel):
    """Format the date and time with a strftime pattern."""

    discriminator: Literal["strftime"] = "strftime"
    format: str = Field(
        default="%Y-%m-%d %H:%M:%S", description="A strftime pattern, e.g. %Y-%m-%d %H:%M:%S."
    )
    timezone: TimezoneLiteral = Field(default="UTC", description=_TIMEZONE_DESCRIPTION)
    use_user_timezone: bool = Field(default=False, description=_USER_TZ_DESCRIPTION)


class ISO8601Format(BaseModel):
    """Format the date and time as ISO 8601 / RFC 3339 with offset, e.g. 2025-01-01T12:00:00+00:00."""

    discriminator: Literal["iso8601"] = "iso8601"
    timezone: TimezoneLiteral = Field(default="UTC", description=_TIMEZONE_DESCRIPTION)
    use_user_timezone: bool = Field(default=False, description=_USER_TZ_DESCRIPTION)
    include_microseconds: bool = Field(default=False, description=_MICROSECONDS_DESCRIPTION)


AnyFormat = (
    TimeStrftimeFormat
    | TimeISO8601Format
    | DateStrftimeFormat
    | DateISO8601Format
    | StrftimeFormat
    | ISO8601Format
)


class TimezoneError(ValueError):
    """A time zone name that zoneinfo does not know."""


def _timezone_name(fmt: AnyFormat, context: RunContext | None) -> str:
    """The user's time zone when asked for and known, else the format's."""
    if fmt.use_user_timezone and context is not None:
        user_tz = (context.user_timezone or "").strip()
        # "not-set" is how AutoGPT profiles spell "no time zone".
        if user_tz and user_tz != "not-set":
            return user_tz
    return fmt.timezone


def _now(fmt: AnyFormat, context: RunContext | None) -> datetime:
    """The current time in the time zone ``fmt`` and ``context`` select."""
    name = _timezone_name(fmt, context)
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimezoneError(f"Unknown time zone {name!r}") from None
    return datetime.now(zone)


def _strftime(moment: datetime, pattern: str) -> str:
    try:
        return moment.strftime(pattern)
    except (ValueError, UnicodeError) as exc:
        raise ValueError(f"Invalid strftime format {pattern!r}: {exc}") from None


def _iso_timespec(include_microseconds: bool) -> str:
    return "microseconds" if include_microseconds else "seconds"


# Helpers of the self-test predicates: the value must be one of the last two minutes' renderings.


def _recent(pattern: str, tz: str = "UTC", days_ago: int = 0) -> set[str]:
    now = datetime.now(ZoneInfo(tz)) - timedelta(days=days_ago)
    # Every second of the last three minutes: the check may run a while after the block did.
    return {(now - timedelta(seconds=s)).strftime(pattern) for s in range(181)}


def _is_recent(pattern: str, tz: str = "UTC", days_ago: int = 0) -> Any:
    return lambda value: value in _recent(pattern, tz, days_ago)


def _fullmatch(regex: str) -> Any:
    return lambda value: isinstance(value, str) and re.fullmatch(regex, value) is not None


_TRIGGER_DESCRIPTION = "Any input: its arrival triggers the block; the value itself is ignored."


# ---- GetCurrentTimeBlock -------------------------------------------------------------------------


class GetCurrentTimeBlock(Block):
    """Yields the current time in a time zone, as strftime text or ISO 8601."""

    id = "a892b8d9-3e4e-4e9c-9c1e-75f8efcf1bfa"
    name = "GetCurrentTimeBlock"
    description = (
        "Outputs the current time in the chosen time zone (or the user's), formatted with a strftime "
        "pattern or as ISO 8601 (e.g. T14:03:07+00:00)."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        trigger: str = Field(description=_TRIGGER_DESCRIPTION)
        format_type: TimeStrftimeFormat | TimeISO8601Format = Field(
            default=TimeStrftimeFormat(),
            discriminator="discriminator",
            description="How to format the time: a strftime pattern or ISO 8601.",
        )

    class Output(BlockSchema):
        time: str = Field(description="The current time, formatted.")

    test_input = [
        {"trigger": "Hello"},
        {"trigger": "Hello", "format_type": {"discriminator": "strftime", "format": "%H:%M"}},
        {"trigger": "x", "format_type": {"discriminator": "iso8601", "timezone": "Asia/Tokyo"}},
        {"trigger": "x", "format_type": {"discriminator": "iso8601", "include_microseconds": True}},
        {
            "trigger": "x",
            "format_type": {
                "discriminator": "iso8601",
                "timezone": "Asia/Kolkata",
                "use_user_timezone": True,
            },
        },
        {
            "trigger": "x",
            "format_type": {"discriminator": "strftime", "format": "%H:%M", "timezone": "Etc/GMT+12"},
        },
    ]
    test_output = [
        ("time", _is_recent("%H:%M:%S")),
        ("time", _is_recent("%H:%M")),
        ("time", _fullmatch(r"T\d{2}:\d{2}:\d{2}\+09:00")),
        ("time", _fullmatch(r"T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00")),
        # The test context's user time zone is UTC, and it wins over Asia/Kolkata.
        ("time", _fullmatch(r"T\d{2}:\d{2}:\d{2}\+00:00")),
        ("time", _is_recent("%H:%M", "Etc/GMT+12")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        fmt = input_data.format_type
        try:
            now = _now(fmt, kwargs.get("context"))
            if isinstance(fmt, TimeISO8601Format):
                iso = now.isoformat(timespec=_iso_timespec(fmt.include_microseconds))
                text = "T" + iso.split("T", 1)[1]
            else:
                text = _strftime(now, fmt.format)
        except ValueError as exc:
            yield "error", str(exc)
            return
        yield "time", text


# ---- GetCurrentDateBlock -------------------------------------------------------------------------


def _offset_days(offset: int | str) -> int:
    """``int(offset)``; 0 when it does not parse."""
    try:
        return int(offset)
    except (TypeError, ValueError):
        return 0


class GetCurrentDateBlock(Block):
    """Yields the current date (minus an offset in days) in a time zone."""

    id = "b29c1b50-5d0e-4d9f-8f9d-1b0e6fcbf0b1"
    name = "GetCurrentDateBlock"
    description = (
        "Outputs the current date in the chosen time zone (or the user's), shifted back by an offset in "
        "days (positive = past, negative = future), formatted with a strftime pattern or as YYYY-MM-DD."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        trigger: str = Field(description=_TRIGGER_DESCRIPTION)
        offset: int | str = Field(
            default=0,
            title="Days Offset",
            description="Days to go back from today (negative goes forward); unparsable values count as 0.",
        )
        format_type: DateStrftimeFormat | DateISO8601Format = Field(
            default=DateStrftimeFormat(),
            discriminator="discriminator",
            description="How to format the date: a strftime pattern or ISO 8601 (YYYY-MM-DD).",
        )

    class Output(BlockSchema):
        date: str = Field(description="The date, formatted.")

    test_input = [
        {"trigger": "Hello"},
        {"trigger": "Hello", "offset": "7"},
        {"trigger": "Hello", "offset": -1},
        {"trigger": "Hello", "offset": "not a number"},
        {"trigger": "x", "format_type": {"discriminator": "iso8601", "timezone": "Pacific/Kiritimati"}},
        {"trigger": "x", "offset": 1, "format_type": {"discriminator": "strftime", "format": "%d/%m/%Y"}},
        {"trigger": "x", "offset": 10**9},
    ]
    test_output = [
        ("date", _is_recent("%Y-%m-%d")),
        ("date", _is_recent("%Y-%m-%d", days_ago=7)),
        ("date", _is_recent("%Y-%m-%d", days_ago=-1)),
        ("date", _is_recent("%Y-%m-%d")),
        ("date", _is_recent("%Y-%m-%d", "Pacific/Kiritimati")),
        ("date", _is_recent("%d/%m/%Y", days_ago=1)),
        ("error", lambda m: "out of range" in m),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        fmt = input_data.format_type
        days = _offset_days(input_data.offset)
        try:
            now = _now(fmt, kwargs.get("context"))
            try:
                day = now - timedelta(days=days)
            except OverflowError:
                raise ValueError(f"An offset of {days} days is out of range") from None
            text = (
                day.date().isoformat() if isinstance(fmt, DateISO8601Format) else _strftime(day, fmt.format)
            )
        except ValueError as exc:
            yield "error", str(exc)
            return
        yield "date", text


# ---- GetCurrentDateAndTimeBlock ------------------------------------------------------------------


class GetCurrentDateAndTimeBlock(Block):
    """Yields the current date and time in a time zone, as strftime text or ISO 8601."""

    id = "716a67b3-6760-42e7-86dc-18645c6e00fc"
    name = "GetCurrentDateAndTimeBlock"
    description = (
        "Outputs the current date and time in the chosen time zone (or the user's), formatted with a "
        "strftime pattern or as ISO 8601 with offset (e.g. 2025-01-01T12:00:00+00:00)."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        trigger: str = Field(description=_TRIGGER_DESCRIPTION)
        format_type: StrftimeFormat | ISO8601Format = Field(
            default=StrftimeFormat(),
            discriminator="discriminator",
            description="How to format the date and time: a strftime pattern or ISO 8601.",
        )

    class Output(BlockSchema):
        date_time: str = Field(description="The current date and time, formatted.")

    test_input = [
        {"trigger": "Hello"},
        {"trigger": "x", "format_type": {"discriminator": "iso8601"}},
        {
            "trigger": "x",
            "format_type": {
                "discriminator": "iso8601",
                "timezone": "Asia/Kathmandu",
                "include_microseconds": True,
            },
        },
        {
            "trigger": "x",
            "format_type": {"discriminator": "strftime", "format": "%Y %Z", "timezone": "Etc/GMT-12"},
        },
        {"trigger": "x", "format_type": {"discriminator": "iso8601", "timezone": "America/St_Johns"}},
    ]
    test_output = [
        ("date_time", _is_recent("%Y-%m-%d %H:%M:%S")),
        ("date_time", _fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")),
        ("date_time", _fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+05:45")),
        ("date_time", _is_recent("%Y %Z", "Etc/GMT-12")),
        ("date_time", _fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-0[23]:30")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        fmt = input_data.format_type
        try:
            now = _now(fmt, kwargs.get("context"))
            if isinstance(fmt, ISO8601Format):
                text = now.isoformat(timespec=_iso_timespec(fmt.include_microseconds))
            else:
                text = _strftime(now, fmt.format)
        except ValueError as exc:
            yield "error", str(exc)
            return
        yield "date_time", text


# ---- CountdownTimerBlock -------------------------------------------------------------------------


def _duration_part(name: str, value: int | str) -> int | float:
    """An int, or a numeric string (an integer, or a finite decimal number) as a number."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _total_seconds(seconds: int | str, minutes: int | str, hours: int | str, days: int | str) -> int | float:
    return (
        _duration_part("seconds", seconds)
        + 60 * _duration_part("minutes", minutes)
        + 3600 * _duration_part("hours", hours)
        + 86400 * _duration_part("days", days)
    )


class CountdownTimerBlock(Block):
    """Waits for a duration, then yields its message; repeats ``repeat`` times."""

    id = "d67a9c52-5e4e-11e2-bcfd-0800200c9a71"
    name = "CountdownTimerBlock"
    description = (
        "Waits for the given seconds + minutes + hours + days, then outputs the message; does this "
        "`repeat` times. Needs no input, so it can start a graph."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        input_message: Any = Field(
            default="timer finished", description="The message to output when the timer ends."
        )
        seconds: int | str = Field(default=0, description="Seconds to wait (a number or a numeric string).")
        minutes: int | str = Field(default=0, description="Minutes to wait (a number or a numeric string).")
        hours: int | str = Field(default=0, description="Hours to wait (a number or a numeric string).")
        days: int | str = Field(default=0, description="Days to wait (a number or a numeric string).")
        repeat: int = Field(default=1, description="How many times to wait and output the message.")

    class Output(BlockSchema):
        output_message: Any = Field(description="The message, output each time the timer ends.")

    test_input = [
        {},
        {"input_message": "hi", "seconds": "1", "repeat": 2},
        {"input_message": {"a": 1}, "seconds": 30, "minutes": "1", "hours": "0", "days": 0},
        {"input_message": "never", "repeat": 0},
        {"seconds": "soon"},
    ]
    test_output = [
        ("output_message", "timer finished"),
        ("output_message", "hi"),
        ("output_message", "hi"),
        ("output_message", {"a": 1}),
        ("error", "seconds must be a number, got 'soon'"),
    ]
    test_mock = {"_sleep": lambda seconds: None}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            total = _total_seconds(input_data.seconds, input_data.minutes, input_data.hours, input_data.days)
        except ValueError as exc:
            yield "error", str(exc)
            return
        for _ in range(input_data.repeat):
            if total > 0:
                await self._sleep(total)
            yield "output_message", input_data.input_message

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (the self-test replaces this to not wait)."""
        import asyncio  # not at import: the block registry loads without asyncio

        await asyncio.sleep(seconds)
