"""``PATCH /api/v1/auth/me`` on real servers: a user changes their own name and timezone, a bad zone is
a 422 naming ``timezone``, nobody reaches another account through it, API keys may not use it, a
schedule created afterwards takes the new zone, and the local no-login mode has it too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.server.api_support import User, api, create_graph, hello_graph, signup
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def ann(accounts_server: ServerProcess) -> Iterator[User]:
    user = signup(accounts_server, "profile-ann")
    yield user
    user.close()


@pytest.fixture(scope="module")
def ben(accounts_server: ServerProcess) -> Iterator[User]:
    user = signup(accounts_server, "profile-ben")
    yield user
    user.close()


def test_a_user_changes_their_own_name_and_timezone(ann: User, ben: User) -> None:
    before_ben = ben.client.get("/auth/me").json()
    r = ann.client.patch("/auth/me", json={"name": "Ann Bolt", "timezone": "Europe/Madrid"})
    assert r.status_code == 200, r.text
    assert r.json()["timezone"] == "Europe/Madrid" and r.json()["name"] == "Ann Bolt"
    me = ann.client.get("/auth/me").json()
    assert me["timezone"] == "Europe/Madrid" and me["name"] == "Ann Bolt" and me["id"] == ann.id

    # A field left out stays; a blank name clears the name.
    r = ann.client.patch("/auth/me", json={"name": "  "})
    assert r.status_code == 200 and r.json()["name"] is None and r.json()["timezone"] == "Europe/Madrid"

    # The other user is untouched, and cannot be named in the body.
    assert ben.client.get("/auth/me").json() == before_ben
    r = ann.client.patch("/auth/me", json={"id": ben.id, "timezone": "Asia/Tokyo"})
    assert r.status_code == 422
    assert ben.client.get("/auth/me").json() == before_ben
    assert ann.client.get("/auth/me").json()["timezone"] == "Europe/Madrid"


def test_a_bad_timezone_is_a_422_naming_the_field(ann: User) -> None:
    for bad in ("Mars/Olympus_Mons", "europe/madrid ", "", "localtime", "Europe/../etc/passwd"):
        r = ann.client.patch("/auth/me", json={"timezone": bad})
        assert r.status_code == 422, (bad, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_input"
        assert [d["key"] for d in error["details"]] == ["timezone"], error
        assert "IANA timezone" in error["details"][0]["message"]
    r = ann.client.patch("/auth/me", json={"name": "line\nbreak"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["key"] == "name"


def test_api_keys_cannot_change_the_profile(accounts_server: ServerProcess, ann: User) -> None:
    key, _ = ann.key("graphs:read", "apikeys:manage", "credentials:manage", name="profile")
    before = ann.client.get("/auth/me").json()
    with api(accounts_server, api_key=key) as c:
        r = c.patch("/auth/me", json={"timezone": "Asia/Tokyo"})
        assert r.status_code == 403, r.text
        assert "login" in r.json()["error"]["message"]
        assert c.get("/auth/me").json() == before  # reading it is fine
    with api(accounts_server) as anonymous:
        assert anonymous.patch("/auth/me", json={"timezone": "UTC"}).status_code == 401


def test_a_schedule_created_afterwards_takes_the_new_zone(ben: User) -> None:
    graph = create_graph(ben.client, hello_graph())
    body = {
        "graph_id": graph["id"],
        "schedule_type": "DAILY",
        "time_of_day": "07:30",
        "inputs": {"name": "B"},
    }
    first = ben.client.post("/schedules", json={**body, "name": "before"})
    assert first.status_code == 201, first.text
    assert first.json()["timezone"] == "UTC"

    assert ben.client.patch("/auth/me", json={"timezone": "America/New_York"}).status_code == 200
    second = ben.client.post("/schedules", json={**body, "name": "after"})
    assert second.status_code == 201, second.text
    assert second.json()["timezone"] == "America/New_York"
    # The earlier schedule keeps its own zone.
    assert ben.client.get(f"/schedules/{first.json()['id']}").json()["timezone"] == "UTC"
    for made in (first, second):
        assert ben.client.delete(f"/schedules/{made.json()['id']}").status_code == 204


def test_the_local_user_sets_a_timezone_without_login(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        before = c.get("/auth/me").json()
        try:
            r = c.patch("/auth/me", json={"timezone": "Pacific/Auckland"})
            assert r.status_code == 200, r.text
            assert c.get("/auth/me").json()["timezone"] == "Pacific/Auckland"
            assert c.patch("/auth/me", json={"timezone": "Nowhere/Special"}).status_code == 422
        finally:
            c.patch("/auth/me", json={"timezone": before["timezone"]})
