"""The account service's profile changes on the test run's database: the user's own row only, every
bad field named at once, API keys refused, and the schedule service defaulting to the new zone."""

from __future__ import annotations

import uuid

import pytest

from tests.scheduler.conftest import hello_graph
from workbench.app import Workbench
from workbench.auth import Principal
from workbench.errors import InvalidFields, NotFoundError, PermissionDenied
from workbench.services.accounts import timezone_names
from workbench.services.schedules import ScheduleService


async def _user(wb: Workbench, name: str) -> str:
    assert wb.accounts is not None
    user = await wb.accounts.signup(f"{name}-{uuid.uuid4().hex[:8]}@example.com", "long enough pw", name)
    return user.id


async def test_update_profile_changes_only_the_callers_row(wb: Workbench) -> None:
    assert wb.accounts is not None
    ann, ben = await _user(wb, "ann"), await _user(wb, "ben")
    changed = await wb.accounts.update_profile(ann, name=" Ann B ", timezone="Asia/Kolkata")
    assert (changed.name, changed.timezone) == ("Ann B", "Asia/Kolkata")
    assert (await wb.accounts.me(ann)).timezone == "Asia/Kolkata"
    other = await wb.accounts.me(ben)
    assert (other.name, other.timezone) == ("ben", "UTC")
    kept = await wb.accounts.update_profile(ann, timezone="UTC")
    assert kept.name == "Ann B"  # a field not given stays
    assert (await wb.accounts.update_profile(ann, name="")).name is None
    with pytest.raises(NotFoundError):
        await wb.accounts.update_profile(str(uuid.uuid4()), timezone="UTC")


async def test_every_bad_field_is_named_and_nothing_changes(wb: Workbench) -> None:
    assert wb.accounts is not None
    ann = await _user(wb, "ann")
    with pytest.raises(InvalidFields) as caught:
        await wb.accounts.update_profile(ann, name="x" * 201, timezone="Atlantis/Capital")
    assert [field for field, _ in caught.value.problems] == ["name", "timezone"]
    with pytest.raises(InvalidFields, match="control characters"):
        await wb.accounts.update_profile(ann, name="nul\x00")
    key = Principal(ann, via="api_key", key_id="k")
    with pytest.raises(PermissionDenied, match="login"):
        await wb.accounts.update_profile(ann, timezone="Europe/Madrid", by=key)
    assert (await wb.accounts.me(ann)).timezone == "UTC"
    zones = timezone_names()
    assert (
        "Europe/Madrid" in zones
        and "UTC" in zones
        and "localtime" not in zones
        and list(zones) == sorted(zones)
    )


async def test_schedules_created_afterwards_use_the_new_zone(wb: Workbench) -> None:
    assert wb.accounts is not None
    ann = await _user(wb, "ann")
    schedules = ScheduleService.of(wb)
    graph = await hello_graph(wb, ann)
    fields = {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": "08:00", "inputs": {"name": "A"}}
    before = await schedules.create(ann, {**fields, "name": "before"})
    await wb.accounts.update_profile(ann, timezone="Australia/Sydney")
    after = await schedules.create(ann, {**fields, "name": "after"})
    try:
        assert before.timezone == "UTC" and after.timezone == "Australia/Sydney"
    finally:
        for made in (before, after):
            await schedules.delete(made.id, ann)
