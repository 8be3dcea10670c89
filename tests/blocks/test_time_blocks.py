"""Tricky semantics of the time blocks (blocks/time.py) beyond their self-test data."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from blocks.time import (
    CountdownTimerBlock,
    GetCurrentDateAndTimeBlock,
    GetCurrentDateBlock,
    GetCurrentTimeBlock,
)
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once


def recent(pattern: str, tz: str = "UTC", days_ago: int = 0) -> set[str]:
    """How ``now - days_ago`` renders in ``tz`` now or in the last few seconds (the block ran just before)."""
    now = datetime.now(ZoneInfo(tz)) - timedelta(days=days_ago)
    return {(now - timedelta(seconds=s)).strftime(pattern) for s in range(6)}


def user_context(tz: str) -> RunContext:
    ctx = RunContext.for_test()
    ctx.user_timezone = tz
    return ctx


async def single(block: Any, data: dict[str, Any], context: RunContext | None = None) -> tuple[str, Any]:
    out = await run_block_once(block, data, context)
    assert len(out) == 1, out
    return out[0]


def offset_of(tz: str) -> timedelta:
    offset = datetime.now(ZoneInfo(tz)).utcoffset()
    assert offset is not None
    return offset


# ---- GetCurrentTimeBlock -----------------------------------------------------------------------


async def test_time_default_is_utc_hh_mm_ss() -> None:
    pin, value = await single(GetCurrentTimeBlock(), {"trigger": "go"})
    assert pin == "time"
    assert value in recent("%H:%M:%S")


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "America/St_Johns", "Asia/Kathmandu", "Etc/GMT+12"])
async def test_time_honours_the_format_time_zone(tz: str) -> None:
    data = {
        "trigger": "go",
        "format_type": {"discriminator": "strftime", "format": "%H:%M:%S %z", "timezone": tz},
    }
    _, value = await single(GetCurrentTimeBlock(), data)
    assert value in recent("%H:%M:%S %z", tz)


async def test_time_iso8601_is_t_plus_time_with_offset() -> None:
    data = {"trigger": "go", "format_type": {"discriminator": "iso8601", "timezone": "Asia/Kolkata"}}
    _, value = await single(GetCurrentTimeBlock(), data)
    assert re.fullmatch(r"T\d{2}:\d{2}:\d{2}\+05:30", value)
    assert value[1:9] in recent("%H:%M:%S", "Asia/Kolkata")


async def test_time_iso8601_microseconds() -> None:
    data = {"trigger": "go", "format_type": {"discriminator": "iso8601", "include_microseconds": True}}
    _, value = await single(GetCurrentTimeBlock(), data)
    assert re.fullmatch(r"T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00", value)


async def test_time_uses_the_users_time_zone_only_when_asked() -> None:
    fmt = {"discriminator": "strftime", "format": "%H:%M %Z", "timezone": "Asia/Tokyo"}
    ctx = user_context("America/New_York")
    _, asked = await single(
        GetCurrentTimeBlock(), {"trigger": "t", "format_type": {**fmt, "use_user_timezone": True}}, ctx
    )
    _, not_asked = await single(GetCurrentTimeBlock(), {"trigger": "t", "format_type": fmt}, ctx)
    assert asked in recent("%H:%M %Z", "America/New_York")
    assert not_asked in recent("%H:%M %Z", "Asia/Tokyo")


@pytest.mark.parametrize("user_tz", ["", "not-set"])
async def test_time_without_a_user_time_zone_falls_back_to_the_format(user_tz: str) -> None:
    fmt = {"discriminator": "strftime", "format": "%Z", "timezone": "Asia/Tokyo", "use_user_timezone": True}
    _, value = await single(
        GetCurrentTimeBlock(), {"trigger": "t", "format_type": fmt}, user_context(user_tz)
    )
    assert value == "JST"


async def test_time_user_time_zone_may_be_outside_the_format_list() -> None:
    fmt = {"discriminator": "iso8601", "use_user_timezone": True}
    _, value = await single(
        GetCurrentTimeBlock(), {"trigger": "t", "format_type": fmt}, user_context("Europe/Berlin")
    )
    offset = offset_of("Europe/Berlin")
    assert value.endswith(f"+0{offset.seconds // 3600}:00")


async def test_time_unknown_user_time_zone_yields_error() -> None:
    fmt = {"discriminator": "iso8601", "use_user_timezone": True}
    pin, message = await single(
        GetCurrentTimeBlock(), {"trigger": "t", "format_type": fmt}, user_context("Mars/Olympus_Mons")
    )
    assert pin == "error"
    assert "Mars/Olympus_Mons" in message


async def test_time_format_time_zone_must_be_in_the_list() -> None:
    with pytest.raises(ValidationError):
        await run_block_once(
            GetCurrentTimeBlock(),
            {"trigger": "t", "format_type": {"discriminator": "strftime", "timezone": "Nowhere"}},
        )


async def test_time_unknown_discriminator_is_rejected() -> None:
    with pytest.raises(ValidationError):
        await run_block_once(
            GetCurrentTimeBlock(), {"trigger": "t", "format_type": {"discriminator": "unix"}}
        )


async def test_time_trigger_value_is_ignored() -> None:
    a = await single(
        GetCurrentTimeBlock(),
        {"trigger": "one", "format_type": {"discriminator": "strftime", "format": "%Y"}},
    )
    b = await single(
        GetCurrentTimeBlock(),
        {"trigger": "two", "format_type": {"discriminator": "strftime", "format": "%Y"}},
    )
    assert a == b


async def test_time_trigger_is_required() -> None:
    with pytest.raises(ValidationError):
        await run_block_once(GetCurrentTimeBlock(), {})


# ---- GetCurrentDateBlock -----------------------------------------------------------------------


async def date_of(offset: Any = None, context: RunContext | None = None, **fmt: Any) -> tuple[str, Any]:
    data: dict[str, Any] = {"trigger": "t"}
    if offset is not None:
        data["offset"] = offset
    if fmt:
        data["format_type"] = fmt
    return await single(GetCurrentDateBlock(), data, context)


@pytest.mark.parametrize(
    ("offset", "days_ago"), [(0, 0), (1, 1), (30, 30), ("7", 7), (" 2 ", 2), (-3, -3), ("-1", -1)]
)
async def test_date_positive_offset_is_the_past(offset: Any, days_ago: int) -> None:
    assert await date_of(offset) in {("date", d) for d in recent("%Y-%m-%d", days_ago=days_ago)}


@pytest.mark.parametrize("offset", ["abc", "", "1.5", "two"])
async def test_date_unparsable_offset_counts_as_zero(offset: str) -> None:
    assert await date_of(offset) in {("date", d) for d in recent("%Y-%m-%d")}


async def test_date_iso8601_is_yyyy_mm_dd() -> None:
    pin, value = await date_of(10, discriminator="iso8601", timezone="Pacific/Kiritimati")
    assert pin == "date"
    assert value in recent("%Y-%m-%d", "Pacific/Kiritimati", days_ago=10)


async def test_date_honours_time_zones_on_both_sides_of_the_date_line() -> None:
    _, east = await date_of(discriminator="strftime", format="%Y-%m-%d", timezone="Pacific/Kiritimati")
    _, west = await date_of(discriminator="strftime", format="%Y-%m-%d", timezone="Etc/GMT+12")
    assert east in recent("%Y-%m-%d", "Pacific/Kiritimati")
    assert west in recent("%Y-%m-%d", "Etc/GMT+12")
    # UTC+14 and UTC-12 are 26 hours apart: always one or two calendar days.
    assert east != west


async def test_date_custom_strftime_and_user_time_zone() -> None:
    ctx = user_context("Australia/Sydney")
    _, value = await date_of(1, ctx, discriminator="strftime", format="%d/%m/%Y %Z", use_user_timezone=True)
    assert value in recent("%d/%m/%Y %Z", "Australia/Sydney", days_ago=1)


async def test_date_out_of_range_offset_yields_error() -> None:
    pin, message = await date_of(10**7)
    assert pin == "error"
    assert "out of range" in message


# ---- GetCurrentDateAndTimeBlock ----------------------------------------------------------------


async def test_date_time_default_format() -> None:
    pin, value = await single(GetCurrentDateAndTimeBlock(), {"trigger": "t"})
    assert pin == "date_time"
    assert value in recent("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "Asia/Kathmandu", "Pacific/Chatham"])
async def test_date_time_iso8601_is_rfc3339_with_offset(tz: str) -> None:
    fmt = {"discriminator": "iso8601", "timezone": tz}
    _, value = await single(GetCurrentDateAndTimeBlock(), {"trigger": "t", "format_type": fmt})
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}", value)
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == offset_of(tz)
    assert abs(datetime.now(ZoneInfo(tz)) - parsed) < timedelta(seconds=5)


async def test_date_time_iso8601_microseconds() -> None:
    fmt = {"discriminator": "iso8601", "include_microseconds": True}
    _, value = await single(GetCurrentDateAndTimeBlock(), {"trigger": "t", "format_type": fmt})
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00", value)


async def test_date_time_strftime_in_a_time_zone() -> None:
    fmt = {"discriminator": "strftime", "format": "%Y-%m-%dT%H:%M:%S%z", "timezone": "Europe/Moscow"}
    _, value = await single(GetCurrentDateAndTimeBlock(), {"trigger": "t", "format_type": fmt})
    assert value in recent("%Y-%m-%dT%H:%M:%S%z", "Europe/Moscow")
    assert value.endswith("+0300")


# ---- CountdownTimerBlock -----------------------------------------------------------------------


def recording_timer() -> tuple[CountdownTimerBlock, list[Any]]:
    """A timer whose sleeps are recorded (in order with its outputs) instead of waited."""
    block = CountdownTimerBlock()
    events: list[Any] = []

    async def fake_sleep(seconds: float) -> None:
        events.append(("sleep", seconds))

    block._sleep = fake_sleep  # type: ignore[method-assign]
    return block, events


async def run_timer(data: dict[str, Any]) -> list[Any]:
    block, events = recording_timer()
    async for pair in block.run(block.Input.model_validate(block.coerce_inputs(dict(data)))):
        events.append(pair)
    return events


async def test_timer_sums_all_units() -> None:
    events = await run_timer(
        {"seconds": "1", "minutes": 2, "hours": "1", "days": "1", "input_message": "done"}
    )
    assert events == [("sleep", 1 + 120 + 3600 + 86400), ("output_message", "done")]


async def test_timer_repeats_sleep_then_output() -> None:
    events = await run_timer({"seconds": 5, "repeat": 3})
    assert events == [("sleep", 5), ("output_message", "timer finished")] * 3


async def test_timer_zero_or_negative_total_does_not_sleep() -> None:
    assert await run_timer({"repeat": 2}) == [("output_message", "timer finished")] * 2
    assert await run_timer({"seconds": -10}) == [("output_message", "timer finished")]
    # Parts add up like AutoGPT's formula: 1 minute - 30 seconds = 30 seconds.
    assert await run_timer({"minutes": 1, "seconds": "-30"}) == [
        ("sleep", 30),
        ("output_message", "timer finished"),
    ]


async def test_timer_zero_or_negative_repeat_yields_nothing() -> None:
    assert await run_timer({"seconds": 1, "repeat": 0}) == []
    assert await run_timer({"seconds": 1, "repeat": -2}) == []


async def test_timer_accepts_decimal_strings() -> None:
    assert await run_timer({"minutes": " 1.5 "}) == [("sleep", 90.0), ("output_message", "timer finished")]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"seconds": "abc"}, "seconds must be a number"),
        ({"hours": "1h"}, "hours must be a number"),
        ({"days": "inf"}, "days must be a finite number"),
        ({"minutes": "nan"}, "minutes must be a finite number"),
    ],
)
async def test_timer_bad_duration_yields_error_without_sleeping(data: dict[str, Any], fragment: str) -> None:
    events = await run_timer(data)
    assert len(events) == 1
    assert events[0][0] == "error"
    assert fragment in events[0][1]


async def test_timer_message_may_be_any_value() -> None:
    message = {"nested": [1, None]}
    assert await run_timer({"input_message": message}) == [("output_message", message)]


async def test_timer_needs_no_input() -> None:
    assert CountdownTimerBlock().required_inputs == frozenset()
    block = CountdownTimerBlock()
    assert await run_block_once(block, {}) == [("output_message", "timer finished")]


async def test_timer_really_sleeps() -> None:
    block = CountdownTimerBlock()
    started = time.monotonic()
    out = await run_block_once(block, {"seconds": "0.05", "repeat": 2, "input_message": "tick"})
    assert out == [("output_message", "tick")] * 2
    assert time.monotonic() - started >= 0.1


async def test_timer_can_be_cancelled_while_sleeping() -> None:
    task = asyncio.create_task(run_block_once(CountdownTimerBlock(), {"hours": 1}))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
