"""/api/v1/schedules over HTTP, on a real ``workbench serve --auth accounts`` process (which also runs
the scheduler): CRUD, pause and resume, next run times, located 422s, scopes, other users' 404s, and
a schedule firing executions with its inputs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.server.api_support import User, api, create_graph, hello_graph, signup
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def server(accounts_server: ServerProcess) -> ServerProcess:
    """The run's ``--auth accounts`` server (its scheduler runs; users here are this module's own)."""
    return accounts_server


@pytest.fixture(scope="module")
def ann(server: ServerProcess) -> Iterator[User]:
    user = signup(server, "ann")
    yield user
    user.close()


@pytest.fixture(scope="module")
def ben(server: ServerProcess) -> Iterator[User]:
    user = signup(server, "ben")
    yield user
    user.close()


def when(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_crud_pause_resume_and_next_runs(ann: User) -> None:
    c = ann.client
    graph = create_graph(c, hello_graph())
    r = c.post(
        "/schedules",
        json={
            "graph_id": graph["id"],
            "name": "Morning",
            "schedule_type": "DAILY",
            "time_of_day": "07:30",
            "timezone": "Europe/Madrid",
            "inputs": {"name": "Ann"},
        },
    )
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["status"] == "active" and s["is_enabled"] and s["timezone"] == "Europe/Madrid"
    assert (
        s["time_of_day"] == "07:30:00" and s["inputs"] == {"name": "Ann"} and s["misfire_grace_seconds"] == 60
    )
    runs = [dt(t) for t in s["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs) and dt(s["next_run_at"]) == runs[0]
    assert {t.astimezone(UTC).strftime("%H:%M") for t in runs} <= {"05:30", "06:30"}  # CEST or CET

    assert c.get(f"/schedules/{s['id']}").json() == s
    listed = c.get("/schedules").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == s["id"]
    assert c.get("/schedules", params={"graph_id": graph["id"]}).json()["total"] == 1
    assert c.get("/schedules", params={"graph_id": str(uuid.uuid4())}).json()["total"] == 0

    r = c.patch(f"/schedules/{s['id']}", json={"name": "Evening", "time_of_day": "19:00", "timezone": "UTC"})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["name"] == "Evening" and patched["inputs"] == {"name": "Ann"}
    assert {dt(t).strftime("%H:%M") for t in patched["next_runs"]} == {"19:00"}

    r = c.post(f"/schedules/{s['id']}/pause")
    assert r.status_code == 200 and r.json()["status"] == "paused" and r.json()["next_runs"] == []
    assert c.post(f"/schedules/{s['id']}/pause").json()["status"] == "paused"
    r = c.post(f"/schedules/{s['id']}/resume")
    assert r.status_code == 200 and r.json()["status"] == "active" and len(r.json()["next_runs"]) == 5

    assert c.get(f"/schedules/{s['id']}/runs").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert c.delete(f"/schedules/{s['id']}").status_code == 204
    assert c.get(f"/schedules/{s['id']}").status_code == 404
    assert c.delete(f"/schedules/{s['id']}").status_code == 404


def test_every_type_over_http(ann: User) -> None:
    c = ann.client
    graph = create_graph(c, hello_graph())
    bodies: dict[str, dict[str, Any]] = {
        "ONCE": {"run_at": when(days=2)},
        "INTERVAL": {"interval_seconds": 3600},
        "CRON": {"cron_expression": "15 8 * * 1-5", "timezone": "America/New_York"},
        "DAILY": {"time_of_day": "12:00"},
        "WEEKLY": {"time_of_day": "09:00", "weekdays": ["sat", "sun"]},
    }
    for kind, body in bodies.items():
        r = c.post("/schedules", json={"graph_id": graph["id"], "schedule_type": kind, **body})
        assert r.status_code == 201, (kind, r.text)
        s = r.json()
        assert len(s["next_runs"]) == (1 if kind == "ONCE" else 5), s
        assert dt(s["next_runs"][0]) > datetime.now(UTC)
        c.delete(f"/schedules/{s['id']}")
    r = c.post(
        "/schedules",
        json={
            "graph_id": graph["id"],
            "schedule_type": "WEEKLY",
            "time_of_day": "09:00",
            "weekdays": ["sat"],
        },
    )
    changed = c.patch(
        f"/schedules/{r.json()['id']}", json={"schedule_type": "CRON", "cron_expression": "@hourly"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["weekdays"] is None and changed.json()["time_of_day"] is None
    c.delete(f"/schedules/{r.json()['id']}")


def test_bad_requests_are_4xx_and_located(ann: User) -> None:
    c = ann.client
    graph = create_graph(c, hello_graph())
    g = graph["id"]
    located = [
        ({"schedule_type": "DAILY", "time_of_day": "09:00", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_type": "CRON", "cron_expression": "99 * * * *"}, "cron_expression"),
        ({"schedule_type": "ONCE", "run_at": when(minutes=-1)}, "run_at"),
        ({"schedule_type": "DAILY", "time_of_day": "9am"}, "time_of_day"),
        ({"schedule_type": "WEEKLY", "time_of_day": "09:00", "weekdays": ["someday"]}, "weekdays"),
        ({"schedule_type": "DAILY", "time_of_day": "09:00", "inputs": {"nope": 1}}, "inputs"),
        ({"schedule_type": "DAILY", "time_of_day": "09:00", "interval_seconds": 5}, "interval_seconds"),
        ({"schedule_type": "INTERVAL", "interval_seconds": 0}, "interval_seconds"),
        ({"schedule_type": "YEARLY"}, "schedule_type"),
        ({"schedule_type": "DAILY", "time_of_day": "09:00", "colour": "red"}, "colour"),
    ]
    for body, field in located:
        r = c.post("/schedules", json={"graph_id": g, **body})
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_input"
        assert any(field in str(d.get("key")) for d in error["details"]), (field, error)
    r = c.post(
        "/schedules", json={"graph_id": str(uuid.uuid4()), "schedule_type": "DAILY", "time_of_day": "09:00"}
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["key"] == "graph_id"
    assert (
        c.post("/schedules", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert c.post("/schedules").status_code == 400
    assert c.get("/schedules/not-a-uuid").status_code in (400, 404)
    assert c.get(f"/schedules/{uuid.uuid4()}").status_code == 404
    assert c.get("/schedules", params={"limit": 0}).status_code == 400
    s = c.post("/schedules", json={"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00"}).json()
    r = c.patch(f"/schedules/{s['id']}", json={"timezone": "Nowhere/Town", "interval_seconds": 5})
    assert r.status_code == 422 and {d["key"] for d in r.json()["error"]["details"]} == {
        "timezone",
        "interval_seconds",
    }
    once = c.post("/schedules", json={"graph_id": g, "schedule_type": "ONCE", "run_at": when(days=1)}).json()
    c.delete(f"/schedules/{s['id']}")
    c.delete(f"/schedules/{once['id']}")


def test_every_rule_is_the_services_and_all_problems_come_at_once(ann: User) -> None:
    """The request model gives the shape only: the rules on values (ranges, lengths, the types'
    names) are the service's, so one answer lists every bad field, as the local client says them."""
    c = ann.client
    g = create_graph(c, hello_graph())["id"]
    r = c.post(
        "/schedules",
        json={
            "graph_id": g,
            "schedule_type": "INTERVAL",
            "interval_seconds": 0,
            "timezone": "Mars/Olympus",
            "name": "x" * 201,
            "misfire_grace_seconds": -1,
            "graph_version": 0,
        },
    )
    assert r.status_code == 422, r.text
    found = {d["key"]: d["message"] for d in r.json()["error"]["details"]}
    assert set(found) == {"interval_seconds", "timezone", "name", "misfire_grace_seconds", "graph_version"}
    assert "Mars/Olympus" in found["timezone"] and "200 characters" in found["name"]
    r = c.post(
        "/schedules",
        json={"graph_id": g, "schedule_type": "WEEKLY", "time_of_day": "09:00", "weekdays": ["mon"] * 8},
    )
    assert r.status_code == 422 and [d["key"] for d in r.json()["error"]["details"]] == ["weekdays"]
    r = c.post("/schedules", json={"graph_id": g, "schedule_type": "DAILY", "interval_seconds": "often"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["key"] == "interval_seconds"  # shape
    daily = c.post("/schedules", json={"graph_id": g, "schedule_type": "daily", "time_of_day": "09:00"})
    assert daily.status_code == 201, daily.text
    assert daily.json()["schedule_type"] == "DAILY"  # as the service reads it, on every front door
    r = c.patch(f"/schedules/{daily.json()['id']}", json={"schedule_type": "HOURLY"})
    assert r.status_code == 422 and [d["key"] for d in r.json()["error"]["details"]] == ["schedule_type"]
    c.delete(f"/schedules/{daily.json()['id']}")


def test_scopes_and_other_users(server: ServerProcess, ann: User, ben: User) -> None:
    graph = create_graph(ben.client, hello_graph())
    theirs = ben.client.post(
        "/schedules", json={"graph_id": graph["id"], "schedule_type": "DAILY", "time_of_day": "09:00"}
    ).json()
    sid = theirs["id"]
    c = ann.client
    attempts = {
        "get": c.get(f"/schedules/{sid}"),
        "patch": c.patch(f"/schedules/{sid}", json={"name": "mine"}),
        "delete": c.delete(f"/schedules/{sid}"),
        "pause": c.post(f"/schedules/{sid}/pause"),
        "resume": c.post(f"/schedules/{sid}/resume"),
        "runs": c.get(f"/schedules/{sid}/runs"),
    }
    for what, r in attempts.items():
        assert r.status_code == 404, (what, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert sid not in {s["id"] for s in c.get("/schedules").json()["items"]}
    r = c.post("/schedules", json={"graph_id": graph["id"], "schedule_type": "DAILY", "time_of_day": "09:00"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["key"] == "graph_id"  # ben's graph
    assert ben.client.get(f"/schedules/{sid}").json()["status"] == "active"  # untouched

    read_key, _ = ben.key("graphs:read")
    with api(server, api_key=read_key) as reader:
        assert reader.get(f"/schedules/{sid}").status_code == 200
        assert reader.get("/schedules").status_code == 200
        assert reader.patch(f"/schedules/{sid}", json={"name": "x"}).status_code == 403
        assert reader.post(f"/schedules/{sid}/pause").status_code == 403
        assert reader.delete(f"/schedules/{sid}").status_code == 403
        r = reader.post(
            "/schedules", json={"graph_id": graph["id"], "schedule_type": "DAILY", "time_of_day": "09:00"}
        )
        assert r.status_code == 403
    write_key, _ = ben.key("graphs:write")
    with api(server, api_key=write_key) as writer:
        assert writer.get(f"/schedules/{sid}").status_code == 403
        assert writer.post(f"/schedules/{sid}/pause").status_code == 200
        # Starting runs on time is executing: without graphs:execute, no new or resumed schedule.
        r = writer.post(
            "/schedules", json={"graph_id": graph["id"], "schedule_type": "DAILY", "time_of_day": "09:00"}
        )
        assert r.status_code == 403 and "graphs:execute" in r.json()["error"]["message"]
        assert writer.post(f"/schedules/{sid}/resume").status_code == 403
    both_key, _ = ben.key("graphs:write", "graphs:execute")
    with api(server, api_key=both_key) as scheduler:
        assert scheduler.post(f"/schedules/{sid}/resume").status_code == 200
    with api(server) as anonymous:
        assert anonymous.get("/schedules").status_code == 401
    ben.client.delete(f"/schedules/{sid}")


def test_the_servers_scheduler_fires_with_the_inputs(ann: User) -> None:
    c = ann.client
    graph = create_graph(c, hello_graph())
    # Every minute (the server's minimum interval), on a grid that starts a second from now.
    s = c.post(
        "/schedules",
        json={
            "graph_id": graph["id"],
            "schedule_type": "INTERVAL",
            "interval_seconds": 60,
            "run_at": when(seconds=1),
            "inputs": {"name": "Tick"},
        },
    ).json()
    deadline = time.monotonic() + 15
    while True:
        runs = c.get(f"/schedules/{s['id']}/runs").json()
        if sum(r["status"] == "SUBMITTED" for r in runs["items"]) >= 1:
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
    c.post(f"/schedules/{s['id']}/pause")
    items = c.get(f"/schedules/{s['id']}/runs").json()["items"]
    times = [dt(r["fire_time"]) for r in items]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
    for run in items:
        if run["status"] != "SUBMITTED":
            continue
        deadline = time.monotonic() + 10
        while (execution := c.get(f"/executions/{run['execution_id']}").json())["status"] not in (
            "COMPLETED",
            "FAILED",
        ):
            assert time.monotonic() < deadline, execution
            time.sleep(0.05)
        assert execution["inputs"] == {"name": "Tick"} and execution["outputs"]["greeting"] == [
            "Hello, Tick!"
        ]
        assert execution["graph_id"] == graph["id"]
    assert dt(c.get(f"/schedules/{s['id']}").json()["last_run_at"]) == times[0]
    c.delete(f"/schedules/{s['id']}")
