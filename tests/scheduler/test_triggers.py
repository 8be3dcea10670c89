"""Next-run computation of every schedule type, in IANA timezones, across DST changes (no database)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workbench.scheduler.triggers import (
    crontab_trigger,
    daily_trigger,
    interval_trigger,
    once_trigger,
    parse_time_of_day,
    resolve_wall_time,
    upcoming,
    zone,
)
from workbench.services.schedules import next_fire, trigger_for

BERLIN = ZoneInfo("Europe/Berlin")  # 2024: summer time from 31 Mar 02:00 -> 03:00, ends 27 Oct 03:00 -> 02:00
NEW_YORK = ZoneInfo("America/New_York")  # 2024: 10 Mar 02:00 -> 03:00, 3 Nov 02:00 -> 01:00


def local(times: list[datetime], tz: ZoneInfo) -> list[str]:
    return [t.astimezone(tz).isoformat() for t in times]


def at(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold)  # type: ignore[misc]


# ---- ONCE and INTERVAL --------------------------------------------------------------------------------


def test_once_fires_once_at_its_time() -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert upcoming(once_trigger(when), datetime(2029, 1, 1, tzinfo=UTC), 5) == [when]
    assert upcoming(once_trigger(when), when + timedelta(seconds=1), 5) == []


def test_interval_keeps_its_grid_and_real_time_across_dst() -> None:
    anchor = datetime(2024, 10, 26, 22, 0, tzinfo=UTC)  # midnight in Berlin, the night of the change
    trigger = interval_trigger(3600, anchor)
    runs = upcoming(trigger, datetime(2024, 10, 26, 23, 30, tzinfo=UTC), 4)
    # Every 3600 real seconds, on the anchor's grid: the local clock shows 02:00 twice.
    assert [r.isoformat() for r in runs] == [
        "2024-10-27T00:00:00+00:00",
        "2024-10-27T01:00:00+00:00",
        "2024-10-27T02:00:00+00:00",
        "2024-10-27T03:00:00+00:00",
    ]
    assert local(runs, BERLIN) == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00",
        "2024-10-27T04:00:00+01:00",
    ]
    # Computed from anywhere, the grid is the same (two schedulers agree on fire times).
    assert upcoming(trigger, datetime(2024, 10, 27, 0, 0, 0, 1, tzinfo=UTC), 1)[0] == runs[1]
    assert upcoming(trigger, runs[2], 1) == [runs[2]]


# ---- DAILY and WEEKLY ---------------------------------------------------------------------------------


def test_daily_in_a_timezone() -> None:
    runs = upcoming(daily_trigger(time(9, 30), NEW_YORK), datetime(2024, 6, 1, 14, 0, tzinfo=UTC), 3)
    assert local(runs, NEW_YORK) == [
        "2024-06-02T09:30:00-04:00",  # 13:30 UTC on the 1st has passed: the 2nd
        "2024-06-03T09:30:00-04:00",
        "2024-06-04T09:30:00-04:00",
    ]
    assert runs[0] == datetime(2024, 6, 2, 13, 30, tzinfo=UTC)


def test_daily_keeps_wall_clock_time_across_dst() -> None:
    runs = upcoming(daily_trigger(time(9), BERLIN), at(BERLIN, 2024, 3, 30, 12), 2)
    assert local(runs, BERLIN) == ["2024-03-31T09:00:00+02:00", "2024-04-01T09:00:00+02:00"]
    assert runs[0] - at(BERLIN, 2024, 3, 30, 9) == timedelta(hours=23)  # the short day


def test_daily_time_in_the_spring_gap_is_shifted_forward() -> None:
    runs = upcoming(daily_trigger(time(2, 30), BERLIN), at(BERLIN, 2024, 3, 29, 12), 4)
    assert local(runs, BERLIN) == [
        "2024-03-30T02:30:00+01:00",
        "2024-03-31T03:30:00+02:00",  # 02:30 does not exist that night
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_daily_time_repeated_in_autumn_fires_once() -> None:
    runs = upcoming(daily_trigger(time(2, 30), BERLIN), at(BERLIN, 2024, 10, 26, 12), 3)
    assert local(runs, BERLIN) == [
        "2024-10-27T02:30:00+02:00",  # the first 02:30 (summer time); not again an hour later
        "2024-10-28T02:30:00+01:00",
        "2024-10-29T02:30:00+01:00",
    ]
    # Asked from between the two 02:30s, the next run is the next day's.
    between = at(BERLIN, 2024, 10, 27, 2, 45, fold=0)
    assert local(upcoming(daily_trigger(time(2, 30), BERLIN), between, 1), BERLIN) == [
        "2024-10-28T02:30:00+01:00"
    ]


def test_weekly_on_some_days() -> None:
    trigger = daily_trigger(time(18, 0, 15), ZoneInfo("Asia/Kolkata"), ["mon", "thu"])
    runs = upcoming(trigger, datetime(2024, 1, 1, tzinfo=UTC), 4)  # Monday 1 Jan 2024
    assert local(runs, ZoneInfo("Asia/Kolkata")) == [
        "2024-01-01T18:00:15+05:30",
        "2024-01-04T18:00:15+05:30",
        "2024-01-08T18:00:15+05:30",
        "2024-01-11T18:00:15+05:30",
    ]


def test_weekly_across_the_date_line() -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    runs = upcoming(daily_trigger(time(8), auckland, ["mon"]), datetime(2024, 3, 30, tzinfo=UTC), 2)
    # Monday 08:00 in Auckland is Sunday evening in UTC; NZ summer time (+13) ends 7 Apr 2024 (+12).
    assert [r.isoformat() for r in runs] == ["2024-03-31T19:00:00+00:00", "2024-04-07T20:00:00+00:00"]
    assert all(r.astimezone(auckland).strftime("%a %H:%M") == "Mon 08:00" for r in runs)


# ---- CRON ---------------------------------------------------------------------------------------------


def test_cron_weekdays_are_numbered_as_in_crontab() -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)  # a Saturday
    weekdays = upcoming(crontab_trigger("0 9 * * 1-5", UTC), start, 5)
    assert [r.strftime("%a") for r in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    for sunday in ("0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "@weekly"):
        assert upcoming(crontab_trigger(sunday, UTC), start, 1)[0].strftime("%a") == "Sun", sunday
    stepped = upcoming(crontab_trigger("0 9 * * */2", UTC), start, 4)  # 0,2,4,6: Sun Tue Thu Sat
    assert [r.strftime("%a") for r in stepped] == ["Sat", "Sun", "Tue", "Thu"]


def test_cron_day_of_month_or_day_of_week() -> None:
    # crontab: both restricted means either matches (the 13th, or any Friday).
    runs = upcoming(crontab_trigger("0 0 13 * fri", UTC), datetime(2024, 10, 1, tzinfo=UTC), 4)
    assert [r.strftime("%a %d") for r in runs] == ["Fri 04", "Fri 11", "Sun 13", "Fri 18"]


def test_cron_macros_and_fields() -> None:
    start = datetime(2024, 2, 28, 23, 59, 30, tzinfo=UTC)
    assert upcoming(crontab_trigger("@daily", UTC), start, 1) == [datetime(2024, 2, 29, tzinfo=UTC)]
    assert upcoming(crontab_trigger("@hourly", UTC), start, 1) == [datetime(2024, 2, 29, tzinfo=UTC)]
    assert upcoming(crontab_trigger("*/15 * * * *", UTC), start, 2) == [
        datetime(2024, 2, 29, 0, 0, tzinfo=UTC),
        datetime(2024, 2, 29, 0, 15, tzinfo=UTC),
    ]
    assert upcoming(crontab_trigger("0 12 29 2 *", UTC), start, 2) == [
        datetime(2024, 2, 29, 12, tzinfo=UTC),
        datetime(2028, 2, 29, 12, tzinfo=UTC),
    ]
    assert upcoming(crontab_trigger("0 0 30 2 *", UTC), start, 1) == []  # never


def test_cron_in_a_timezone() -> None:
    runs = upcoming(crontab_trigger("30 8 * * mon-fri", NEW_YORK), datetime(2024, 3, 8, tzinfo=UTC), 2)
    assert local(runs, NEW_YORK) == ["2024-03-08T08:30:00-05:00", "2024-03-11T08:30:00-04:00"]


def test_cron_with_a_fixed_hour_follows_wall_clock_across_dst() -> None:
    spring = upcoming(crontab_trigger("30 2 * * *", NEW_YORK), at(NEW_YORK, 2024, 3, 9, 12), 2)
    assert local(spring, NEW_YORK) == ["2024-03-10T03:30:00-04:00", "2024-03-11T02:30:00-04:00"]
    autumn = upcoming(crontab_trigger("30 1 * * *", NEW_YORK), at(NEW_YORK, 2024, 11, 2, 12), 3)
    assert local(autumn, NEW_YORK) == [
        "2024-11-03T01:30:00-04:00",  # once, at the first 01:30
        "2024-11-04T01:30:00-05:00",
        "2024-11-05T01:30:00-05:00",
    ]


def test_cron_with_a_wildcard_hour_follows_real_time_across_dst() -> None:
    autumn = upcoming(crontab_trigger("*/30 * * * *", BERLIN), at(BERLIN, 2024, 10, 27, 1, 15), 6)
    assert local(autumn, BERLIN) == [
        "2024-10-27T01:30:00+02:00",
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:00:00+01:00",  # the repeated hour runs again: every 30 real minutes
        "2024-10-27T02:30:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(autumn))
    spring = upcoming(crontab_trigger("*/30 * * * *", BERLIN), at(BERLIN, 2024, 3, 31, 1, 15), 4)
    assert local(spring, BERLIN) == [
        "2024-03-31T01:30:00+01:00",
        "2024-03-31T03:00:00+02:00",  # 02:00 and 02:30 do not exist; nothing fires twice
        "2024-03-31T03:30:00+02:00",
        "2024-03-31T04:00:00+02:00",
    ]
    assert all(b > a for a, b in itertools.pairwise(spring))


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "* * * * * *",
        "61 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "a b c d e",
        "*/0 * * * *",
        "* * * * fri-mon",
    ],
)
def test_bad_cron_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        crontab_trigger(expression, UTC)


# ---- helpers ------------------------------------------------------------------------------------------


def test_wall_times_and_zones() -> None:
    assert zone("Europe/Madrid").key == "Europe/Madrid"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "UTC\x00", " UTC"):
        with pytest.raises(ValueError):
            zone(bad)
    gap = resolve_wall_time(datetime(2024, 3, 31, 2, 30), BERLIN)
    assert local(gap, BERLIN) == ["2024-03-31T03:30:00+02:00"]
    twice = resolve_wall_time(datetime(2024, 10, 27, 2, 30), BERLIN, both=True)
    assert local(twice, BERLIN) == ["2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00"]
    assert parse_time_of_day("07:05") == time(7, 5)
    assert parse_time_of_day("23:59:59") == time(23, 59, 59)
    for bad in ("24:00", "7:05", "07:60", "noon", "07:05:00.5"):
        with pytest.raises(ValueError):
            parse_time_of_day(bad)


def test_trigger_for_stored_values() -> None:
    values = {
        "schedule_type": "WEEKLY",
        "timezone": "Europe/Berlin",
        "time_of_day": time(7),
        "weekdays": ["sat"],
        "cron_expression": None,
        "interval_seconds": None,
        "run_at": None,
    }
    first = next_fire(values, datetime(2024, 6, 1, 6, tzinfo=UTC))  # Saturday 08:00 in Berlin
    assert first is not None and local([first], BERLIN) == ["2024-06-08T07:00:00+02:00"]
    assert upcoming(trigger_for(values), datetime(2024, 6, 1, 4, tzinfo=UTC), 1) == [
        datetime(2024, 6, 1, 5, tzinfo=UTC)
    ]
