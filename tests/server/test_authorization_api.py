"""Who may do what, over HTTP on a real server: another user's resources are 404 on every route,
API keys act only within their scopes, and keys are shown once, stored hashed, and revocable."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from tests.server.api_support import (
    User,
    api,
    create_graph,
    database_rows_containing,
    hello_graph,
    node_running,
    run_graph,
    timer_graph,
)
from tests.support.servers import ServerProcess

AGENT_BLOCK = "e189baac-8c20-45a1-94a7-55177ea42565"


def test_another_users_resources_are_404_on_every_route(alice: User, bob: User) -> None:
    graph = create_graph(bob.client, hello_graph(name="Bob's secret agent"))
    gid = graph["id"]
    done = run_graph(bob.client, gid, {"name": "Bob"})["id"]
    slow_graph = create_graph(bob.client, timer_graph(30))
    running = bob.client.post(f"/graphs/{slow_graph['id']}/execute", json={}).json()["id"]
    node_running(bob.client, running, "timer")
    credential = bob.client.post(
        "/credentials", json={"provider": "github", "secret": {"token": "gh-bob"}}
    ).json()
    _, key = bob.key("graphs:read")

    c = alice.client
    attempts = {
        "get graph": c.get(f"/graphs/{gid}"),
        "get graph version": c.get(f"/graphs/{gid}", params={"version": 1}),
        "put graph": c.put(f"/graphs/{gid}", json=hello_graph()),
        "versions": c.get(f"/graphs/{gid}/versions"),
        "activate": c.put(f"/graphs/{gid}/versions/active", json={"version": 1}),
        "export": c.get(f"/graphs/{gid}/export"),
        "execute": c.post(f"/graphs/{gid}/execute", json={"inputs": {"name": "Eve"}}),
        "execute and wait": c.post(f"/graphs/{gid}/execute", params={"wait": 1}, json={}),
        "get execution": c.get(f"/executions/{done}"),
        "get running execution": c.get(f"/executions/{running}"),
        "cancel execution": c.post(f"/executions/{running}/cancel"),
        "delete execution": c.delete(f"/executions/{done}"),
        "delete running execution": c.delete(f"/executions/{running}"),
        "delete credential": c.delete(f"/credentials/{credential['id']}"),
        "revoke api key": c.delete(f"/api-keys/{key['id']}"),
        "delete graph": c.delete(f"/graphs/{gid}"),
    }
    for what, r in attempts.items():
        assert r.status_code == 404, (what, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found", what
        assert "Bob" not in r.text, what

    # Nor do listings show them.
    assert gid not in {g["id"] for g in c.get("/graphs", params={"limit": 500}).json()["items"]}
    assert c.get("/graphs", params={"search": "Bob's secret"}).json()["total"] == 0
    assert c.get("/executions", params={"graph_id": gid}).json()["total"] == 0
    mine = {e["id"] for e in c.get("/executions", params={"limit": 500}).json()["items"]}
    assert done not in mine and running not in mine
    assert credential["id"] not in {x["id"] for x in c.get("/credentials").json()}
    assert key["id"] not in {x["id"] for x in c.get("/api-keys").json()}

    # And nothing of Bob's changed.
    assert bob.client.get(f"/graphs/{gid}").json()["version"] == 1
    assert [v["version"] for v in bob.client.get(f"/graphs/{gid}/versions").json()] == [1]
    assert bob.client.get(f"/executions/{done}").json()["status"] == "COMPLETED"
    assert bob.client.get(f"/executions/{running}").json()["status"] == "RUNNING"
    assert bob.client.get("/executions", params={"graph_id": gid}).json()["total"] == 1
    assert credential["id"] in {x["id"] for x in bob.client.get("/credentials").json()}
    assert next(k for k in bob.client.get("/api-keys").json() if k["id"] == key["id"])["revoked_at"] is None
    assert bob.client.post(f"/executions/{running}/cancel").json()["status"] == "CANCELLED"


def test_a_sub_graph_cannot_take_the_id_of_another_users_graph(alice: User, bob: User) -> None:
    bobs = create_graph(bob.client, hello_graph(name="Bob's own"))
    fake = hello_graph(name="Not Bob's", id=bobs["id"], version=5)
    parent = hello_graph(name="Trojan")
    parent["nodes"].append(
        {
            "id": "agent",
            "block_id": AGENT_BLOCK,
            "input_default": {"graph_id": bobs["id"], "graph_version": 5, "inputs": {"name": "x"}},
        }
    )
    parent["sub_graphs"] = [fake]
    for r in (
        alice.client.post("/graphs", json=parent),
        alice.client.put(f"/graphs/{create_graph(alice.client, hello_graph())['id']}", json=parent),
    ):
        assert r.status_code == 422, r.text
        problem = r.json()["error"]["problems"][0]
        assert problem["code"] == "sub_graph_id_taken" and problem["node_id"] == "agent"
    assert alice.client.get(f"/graphs/{parent['id']}").status_code == 404
    # Bob's graph is as he left it.
    versions = bob.client.get(f"/graphs/{bobs['id']}/versions").json()
    assert [(v["version"], v["name"], v["is_active"]) for v in versions] == [(1, "Bob's own", True)]
    assert alice.client.get(f"/graphs/{bobs['id']}").status_code == 404
    # A sub-graph of one's own is fine.
    mine = create_graph(alice.client, hello_graph(name="Alice's sub"))
    own = hello_graph(name="Alice's parent")
    own["nodes"].append(
        {
            "id": "agent",
            "block_id": AGENT_BLOCK,
            "input_default": {"graph_id": mine["id"], "graph_version": 1},
        }
    )
    own["sub_graphs"] = [alice.client.get(f"/graphs/{mine['id']}").json()]
    assert alice.client.post("/graphs", json=own).status_code == 201


def test_an_api_key_is_shown_once_and_stored_hashed(alice: User, accounts_server: ServerProcess) -> None:
    r = alice.client.post(
        "/api-keys", json={"name": "ci", "scopes": ["graphs:read", "graphs:read", "blocks:read"]}
    )
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith("wbk_") and len(key) > 40
    assert created["prefix"] == key[:10] and created["name"] == "ci"
    assert created["scopes"] == ["blocks:read", "graphs:read"]
    assert created["revoked_at"] is None and created["last_used_at"] is None

    listed = next(k for k in alice.client.get("/api-keys").json() if k["id"] == created["id"])
    assert "key" not in listed and key not in alice.client.get("/api-keys").text
    assert listed == {k: v for k, v in created.items() if k != "key"}
    assert database_rows_containing(accounts_server, key) == []
    assert database_rows_containing(accounts_server, key[10:]) == []

    # Both ways of sending it work, and its use is recorded.
    with (
        api(accounts_server, api_key=key) as by_bearer,
        api(accounts_server, api_key=key, key_header=True) as by_header,
    ):
        assert by_bearer.get("/graphs").status_code == 200
        assert by_header.get("/graphs").status_code == 200
        assert by_header.get("/auth/me").json()["id"] == alice.id
    listed = next(k for k in alice.client.get("/api-keys").json() if k["id"] == created["id"])
    assert listed["last_used_at"] is not None


def test_a_revoked_key_is_401_at_once(alice: User, accounts_server: ServerProcess) -> None:
    key, meta = alice.key("graphs:read")
    with api(accounts_server, api_key=key) as c:
        assert c.get("/graphs").status_code == 200
        r = alice.client.delete(f"/api-keys/{meta['id']}")
        assert r.status_code == 204 and r.content == b""
        r = c.get("/graphs")
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    listed = next(k for k in alice.client.get("/api-keys").json() if k["id"] == meta["id"])
    assert listed["revoked_at"] is not None
    assert alice.client.delete(f"/api-keys/{meta['id']}").status_code == 404
    assert alice.client.delete(f"/api-keys/{uuid.uuid4()}").status_code == 404


def test_an_expired_key_is_401_and_a_key_cannot_be_born_expired(
    alice: User, accounts_server: ServerProcess
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    r = alice.client.post("/api-keys", json={"name": "brief", "scopes": ["graphs:read"], "expires_at": soon})
    assert r.status_code == 201
    key = r.json()["key"]
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = alice.client.post("/api-keys", json={"name": "dead", "scopes": ["graphs:read"], "expires_at": past})
    assert r.status_code == 422 and "expires_at" in r.json()["error"]["message"]
    with api(accounts_server, api_key=key) as c:
        assert c.get("/graphs").status_code == 200  # cached now; the cache must not outlive the key
        while datetime.now(UTC) < datetime.fromisoformat(soon) + timedelta(seconds=0.2):
            time.sleep(0.05)
        r = c.get("/graphs")
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_api_keys_act_only_within_their_scopes(alice: User, accounts_server: ServerProcess) -> None:
    graph = create_graph(alice.client, hello_graph())
    gid = graph["id"]
    reader, _ = alice.key("graphs:read")
    runner, _ = alice.key("graphs:execute")
    blocks, _ = alice.key("blocks:read")
    block = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"

    with api(accounts_server, api_key=reader) as c:
        assert c.get("/graphs").status_code == 200
        assert c.get(f"/graphs/{gid}").status_code == 200
        assert c.get(f"/graphs/{gid}/export").status_code == 200
        assert c.get("/executions").status_code == 200
        forbidden = [
            c.post("/graphs", json=hello_graph()),
            c.put(f"/graphs/{gid}", json=hello_graph()),
            c.put(f"/graphs/{gid}/versions/active", json={"version": 1}),
            c.delete(f"/graphs/{gid}"),
            c.post(f"/graphs/{gid}/execute", json={}),
            c.get("/blocks"),
            c.get(f"/blocks/{block}"),
            c.post(f"/blocks/{block}/execute", json={}),
            c.get("/credentials"),
            c.post("/credentials", json={"provider": "x", "secret": {"k": "v"}}),
            c.get("/api-keys"),
            c.post("/api-keys", json={"name": "more", "scopes": ["graphs:read"]}),
        ]
        for r in forbidden:
            assert r.status_code == 403, (r.request.method, r.request.url, r.status_code)
            error = r.json()["error"]
            assert error["code"] == "forbidden" and "lacks the scope" in error["message"]
        assert "'graphs:write'" in forbidden[0].json()["error"]["message"]
    assert alice.client.get(f"/graphs/{gid}").status_code == 200  # nothing was deleted

    with api(accounts_server, api_key=runner) as c:
        r = c.post(f"/graphs/{gid}/execute", params={"wait": 5}, json={"inputs": {"name": "Ada"}})
        assert r.status_code == 200 and r.json()["outputs"]["greeting"] == ["Hello, Ada!"]
        assert c.get(f"/executions/{r.json()['id']}").status_code == 403
        assert c.get(f"/graphs/{gid}").status_code == 403

    with api(accounts_server, api_key=blocks) as c:
        assert c.get("/blocks").status_code == 200
        assert c.get(f"/blocks/{block}").status_code == 200
        assert c.post(f"/blocks/{block}/execute", json={}).status_code == 403


def test_a_key_cannot_grant_scopes_it_does_not_hold(alice: User, accounts_server: ServerProcess) -> None:
    manager, _ = alice.key("apikeys:manage", "graphs:read")
    with api(accounts_server, api_key=manager) as c:
        r = c.post("/api-keys", json={"name": "wider", "scopes": ["graphs:read", "graphs:write"]})
        assert r.status_code == 403 and "graphs:write" in r.json()["error"]["message"]
        r = c.post("/api-keys", json={"name": "narrower", "scopes": ["graphs:read"]})
        assert r.status_code == 201
        assert r.json()["scopes"] == ["graphs:read"]
        assert {k["name"] for k in c.get("/api-keys").json()} >= {"narrower"}


def test_api_key_body_errors(alice: User) -> None:
    for body in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["graphs:everything"]},
        {"name": "", "scopes": ["graphs:read"]},
        {"scopes": ["graphs:read"]},
        {"name": "x", "scopes": "graphs:read"},
        {"name": "x", "scopes": ["graphs:read"], "expires_at": "tomorrow"},
    ):
        r = alice.client.post("/api-keys", json=body)
        assert r.status_code == 422, body
    r = alice.client.post("/api-keys", json={"name": "x", "scopes": ["graphs:everything"]})
    assert (
        "graphs:everything" in r.json()["error"]["message"] and "graphs:read" in r.json()["error"]["message"]
    )
    assert alice.client.delete("/api-keys/not-a-uuid").status_code == 400  # malformed, said so
