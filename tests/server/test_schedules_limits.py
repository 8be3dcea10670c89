"""Schedules cannot be used to run graphs without the right, or faster and more often than allowed
(issue 10, findings 4 and 10), attacked over HTTP on the run's real ``--auth accounts`` server as the
probe did: a key without ``graphs:execute`` editing a schedule, a one-second interval, and one more
active schedule than a user may have (the defaults: 60 seconds and 100 schedules)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.server.api_support import User, api, create_graph, hello_graph, signup
from tests.support.servers import ServerProcess

DAILY = {"schedule_type": "DAILY", "time_of_day": "09:00"}


@pytest.fixture(scope="module")
def server(accounts_server: ServerProcess) -> ServerProcess:
    return accounts_server


@pytest.fixture
def owner(server: ServerProcess) -> Iterator[User]:
    """A new user; their schedules are deleted afterwards (the server's scheduler would fire them)."""
    user = signup(server, "scheduler")
    yield user
    for item in user.client.get("/schedules", params={"limit": 500}).json()["items"]:
        user.client.delete(f"/schedules/{item['id']}")
    user.close()


def details(response: Any) -> dict[str, str]:
    return {d["key"]: d["message"] for d in response.json()["error"]["details"]}


def test_a_key_without_graphs_execute_cannot_change_what_a_schedule_runs(
    server: ServerProcess, owner: User
) -> None:
    c = owner.client
    graph = create_graph(c, hello_graph())
    other = create_graph(c, hello_graph(name="Another agent"))
    cred = c.post("/credentials", json={"provider": "github", "secret": {"token": "gh-owner"}}).json()
    r = c.post("/schedules", json={"graph_id": graph["id"], "inputs": {"name": "Ann"}, **DAILY})
    assert r.status_code == 201, r.text
    before = r.json()

    write_key, _ = owner.key("graphs:read", "graphs:write")
    changes = [
        {"graph_id": other["id"]},
        {"graph_version": 1},
        {"inputs": {"name": "Mallory"}},
        {"credentials": {"github": cred["id"]}},
        {"time_of_day": "10:00"},
        {"schedule_type": "INTERVAL", "interval_seconds": 3600},
        {"schedule_type": "ONCE", "run_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()},
        {"timezone": "Asia/Tokyo"},
        {"name": "renamed"},
    ]
    with api(server, api_key=write_key) as writer:
        for change in changes:
            r = writer.patch(f"/schedules/{before['id']}", json=change)
            assert r.status_code == 403, (change, r.text)
            assert "graphs:execute" in r.json()["error"]["message"]
        assert writer.post(f"/schedules/{before['id']}/resume").status_code == 403
        # Stopping runs needs no more than graphs:write.
        assert writer.post(f"/schedules/{before['id']}/pause").status_code == 200
    after = c.get(f"/schedules/{before['id']}").json()
    for field in (
        "graph_id",
        "graph_version",
        "inputs",
        "credentials",
        "schedule_type",
        "time_of_day",
        "name",
    ):
        assert after[field] == before[field], field
    assert after["timezone"] == before["timezone"] and after["status"] == "paused"

    both_key, _ = owner.key("graphs:write", "graphs:execute")
    with api(server, api_key=both_key) as scheduler:
        r = scheduler.patch(f"/schedules/{before['id']}", json={"inputs": {"name": "Bea"}})
        assert r.status_code == 200 and r.json()["inputs"] == {"name": "Bea"}
        assert scheduler.delete(f"/schedules/{before['id']}").status_code == 204


def test_schedules_fire_at_most_once_a_minute(owner: User) -> None:
    c = owner.client
    g = create_graph(c, hello_graph())["id"]
    for seconds in (1, 59):
        r = c.post(
            "/schedules", json={"graph_id": g, "schedule_type": "INTERVAL", "interval_seconds": seconds}
        )
        assert r.status_code == 422, r.text
        message = details(r)["interval_seconds"]
        assert "at least 60 seconds" in message and "WORKBENCH_SCHEDULE_MIN_INTERVAL" in message
    every_minute = c.post(
        "/schedules", json={"graph_id": g, "schedule_type": "INTERVAL", "interval_seconds": 60}
    )
    assert every_minute.status_code == 201, every_minute.text
    cron = c.post("/schedules", json={"graph_id": g, "schedule_type": "CRON", "cron_expression": "* * * * *"})
    assert cron.status_code == 201, cron.text
    r = c.patch(f"/schedules/{every_minute.json()['id']}", json={"interval_seconds": 1})
    assert r.status_code == 422 and "interval_seconds" in details(r)
    assert c.get(f"/schedules/{every_minute.json()['id']}").json()["interval_seconds"] == 60
    assert c.get("/schedules").json()["total"] == 2


def test_a_user_has_at_most_100_active_schedules(owner: User) -> None:
    c = owner.client
    g = create_graph(c, hello_graph())["id"]
    ids = []
    for _ in range(100):
        r = c.post("/schedules", json={"graph_id": g, **DAILY})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = c.post("/schedules", json={"graph_id": g, **DAILY})
    assert r.status_code == 409, r.text
    message = r.json()["error"]["message"]
    assert "100 active schedules" in message and "WORKBENCH_MAX_SCHEDULES_PER_USER" in message
    assert c.get("/schedules").json()["total"] == 100

    # Paused schedules do not count; resuming one needs room again.
    assert c.post(f"/schedules/{ids[0]}/pause").json()["status"] == "paused"
    r = c.post("/schedules", json={"graph_id": g, **DAILY})
    assert r.status_code == 201, r.text
    r = c.post(f"/schedules/{ids[0]}/resume")
    assert r.status_code == 409 and "WORKBENCH_MAX_SCHEDULES_PER_USER" in r.json()["error"]["message"]
    assert c.get(f"/schedules/{ids[0]}").json()["status"] == "paused"

    # The limit is per user.
    other = signup(owner.server, "other-scheduler")
    try:
        mine = create_graph(other.client, hello_graph())["id"]
        assert other.client.post("/schedules", json={"graph_id": mine, **DAILY}).status_code == 201
    finally:
        other.client.delete("/schedules/" + other.client.get("/schedules").json()["items"][0]["id"])
        other.close()
