"""/api/v1/notifications on real ``workbench serve`` processes with accounts: the inbox fed by a
failing run, pushed on the WebSocket, read and unread; preferences validated field by field;
channels (a webhook's secret shown once, never listed); the delivery log; each user sees only their own."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.server.api_support import User, create_graph, hello_graph, run_graph, signup, wait_status
from tests.support.servers import ServerProcess


def failing_graph() -> dict[str, Any]:
    """The hello agent, its ``greet`` node made to fail on an undefined attribute."""
    doc = hello_graph(name="Nightly report")
    next(n for n in doc["nodes"] if n["id"] == "greet")["input_default"]["format"] = "Hello, {{ name.x.y }}!"
    return doc


def inbox(user: User, **params: Any) -> dict[str, Any]:
    r = user.client.get("/notifications", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_inbox(user: User, count: int, timeout: float = 15, title: str | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        page = inbox(user)
        if len(page["items"]) >= count and (title is None or any(n["title"] == title for n in page["items"])):
            return page
        assert time.monotonic() < deadline, page
        time.sleep(0.1)


def test_a_failed_run_lands_in_the_inbox_and_on_the_websocket(
    accounts_server: ServerProcess, bob: User
) -> None:
    alice = signup(accounts_server, "inbox")  # an inbox of this test's own
    graph = create_graph(alice.client, failing_graph())

    async def listen() -> dict[str, Any]:
        url = f"{accounts_server.ws_url}?token={alice.access_token}"
        async with connect(url, open_timeout=10) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await ws.recv())["type"] == "pong"
            run = await asyncio.to_thread(run_graph, alice.client, graph["id"], {"name": "Ada"})
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["type"] == "NOTIFICATION":
                    return {"frame": frame, "run": run}

    got = asyncio.run(listen())
    note = got["frame"]["data"]
    assert note["kind"] == "run_failed" and note["execution_id"] == got["run"]["id"]
    assert note["data"]["node"].endswith("(greet)") and note["data"]["agent_name"] == "Nightly report"
    assert "has no attribute 'x'" in note["data"]["error"]
    wait_status(alice.client, got["run"]["id"], {"FAILED"})

    page = wait_inbox(alice, 1)
    assert page["unread"] == 1 and page["items"][0]["id"] == note["id"] and page["items"][0]["read"] is False
    assert inbox(bob)["items"] == []  # bob sees none of alice's
    assert bob.client.get(f"/notifications/{note['id']}").status_code == 404
    r = bob.client.post("/notifications/read", json={"ids": [note["id"]]})
    assert r.status_code == 200 and r.json()["changed"] == 0
    r = alice.client.post("/notifications/read", json={"ids": [note["id"]]})
    assert r.status_code == 200 and r.json() == {"changed": 1, "unread": 0}
    assert alice.client.get(f"/notifications/{note['id']}").json()["read"] is True
    # run_failed also goes by email by default: no mail server here, so the log says why
    deadline = time.monotonic() + 10
    while True:
        log = alice.client.get("/notifications/deliveries").json()
        if log and log[0]["status"] == "failed":
            break
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert log[0]["channel"] == "email" and log[0]["target"] == alice.email
    assert "WORKBENCH_SMTP_URL" in log[0]["reason"]


def test_preferences_are_checked_field_by_field(alice: User) -> None:
    prefs = alice.client.get("/notifications/preferences").json()
    assert prefs["events"]["run_failed"] == ["in_app", "email"] and prefs["events"]["run_completed"] == []
    bad = {
        "events": {"run_failed": ["pager"], "nonsense": ["email"]},
        "quiet_hours": {"start": "25:00", "end": "07:00", "timezone": "Mars/Olympus"},
        "daily_cap": 0,
        "agents": {"not-a-uuid": {}},
    }
    r = alice.client.put("/notifications/preferences", json=bad)
    assert r.status_code == 422, r.text
    where = {d.get("field") or d.get("loc") or str(d) for d in r.json()["error"].get("details", [])}
    text = r.text
    for field in ("events.run_failed.0", "events.nonsense", "quiet_hours.start", "daily_cap", "agents"):
        assert field in text, (field, where)
    assert alice.client.get("/notifications/preferences").json() == prefs  # nothing stored

    graph_id = str(uuid.uuid4())
    r = alice.client.patch(
        "/notifications/preferences",
        json={
            "events": {"run_completed": ["in_app"]},
            "agents": {graph_id: {"muted": True}},
            "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
            "daily_cap": 20,
            "summary": "weekly",
        },
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["events"]["run_completed"] == ["in_app"] and doc["events"]["run_failed"] == ["in_app", "email"]
    assert doc["agents"][graph_id]["muted"] is True
    assert doc["quiet_hours"] == {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    assert doc["daily_cap"] == 20 and doc["summary"] == "weekly"
    r = alice.client.patch(
        "/notifications/preferences", json={"agents": {graph_id: None}, "quiet_hours": None}
    )
    assert r.json()["agents"] == {} and r.json()["quiet_hours"] is None and r.json()["daily_cap"] == 20


def test_channels_keep_their_secrets(alice: User, bob: User) -> None:
    url = "https://hooks.example.com/services/T0/B0/very-secret-path"
    r = alice.client.post("/notifications/channels", json={"kind": "webhook", "name": "ops", "target": url})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"].startswith("whsec_") and made["target"] == "https://hooks.example.com/…"
    listed = alice.client.get("/notifications/channels")
    assert made["secret"] not in listed.text and "very-secret-path" not in listed.text
    assert [c["name"] for c in listed.json()] == ["ops"]
    again = alice.client.post("/notifications/channels", json={"kind": "slack", "name": "ops", "target": url})
    assert again.status_code == 409
    bad = alice.client.post(
        "/notifications/channels", json={"kind": "email", "name": "me", "target": "not an address"}
    )
    assert bad.status_code == 422 and "target" in bad.text
    assert bob.client.get("/notifications/channels").json() == []
    assert bob.client.delete(f"/notifications/channels/{made['id']}").status_code == 404
    rotated = alice.client.post(f"/notifications/channels/{made['id']}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (None, made["secret"])
    off = alice.client.patch(f"/notifications/channels/{made['id']}", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert alice.client.delete(f"/notifications/channels/{made['id']}").status_code == 204


def test_a_message_of_your_own_and_scopes(alice: User) -> None:
    r = alice.client.post("/notifications/messages", json={"title": "Deploy done", "text": "v2 is live"})
    assert r.status_code == 202, r.text
    page = wait_inbox(alice, 1, title="Deploy done")
    assert any(n["title"] == "Deploy done" and n["kind"] == "custom" for n in page["items"])
    key, _ = alice.key("graphs:read", name="no notifications")
    with httpx.Client(base_url=alice.client.base_url, headers={"Authorization": f"Bearer {key}"}) as other:
        r = other.get("/notifications")
        assert r.status_code == 403 and "notifications:read" in r.text
