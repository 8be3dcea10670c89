"""Executions over HTTP on a real server: execute (at once, or waiting), list with filters, inspect
with node executions, cancel, delete; and what goes wrong."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.server.api_support import (
    INPUT_BLOCK,
    OUTPUT_BLOCK,
    User,
    create_graph,
    hello_graph,
    node_running,
    run_graph,
    timer_graph,
    wait_status,
)

HELLO_OUTPUTS = {"greeting": ["Hello, Ada!"], "length": [11]}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_execute_with_wait_gives_the_outputs_as_the_cli_prints_them(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    r = alice.client.post(f"/graphs/{graph['id']}/execute?wait=5", json={"inputs": {"name": "Ada"}})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETED"
    assert body["outputs"] == HELLO_OUTPUTS
    assert body["graph_id"] == graph["id"] and body["graph_version"] == 1
    assert body["inputs"] == {"name": "Ada"}
    assert body["error"] is None and body["error_node_id"] is None
    uuid.UUID(body["id"])


def test_execute_without_wait_is_202_with_the_id_at_once(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    r = alice.client.post(
        f"/graphs/{graph['id']}/execute", json={"inputs": {"name": "Ada"}, "priority": "high"}
    )
    assert r.status_code == 202
    body = r.json()
    assert body["status"] in {"QUEUED", "RUNNING", "COMPLETED"}
    done = wait_status(alice.client, body["id"], {"COMPLETED"})
    assert done["outputs"] == HELLO_OUTPUTS


def test_execute_whose_wait_runs_out_is_202_with_the_current_state(alice: User) -> None:
    graph = create_graph(alice.client, timer_graph(30))
    r = alice.client.post(f"/graphs/{graph['id']}/execute", params={"wait": 0.3}, json={})
    assert r.status_code == 202
    assert r.json()["status"] in {"QUEUED", "RUNNING"}
    assert alice.client.post(f"/executions/{r.json()['id']}/cancel").json()["status"] == "CANCELLED"


def test_get_execution_has_node_executions_with_inputs_outputs_and_timings(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    started = datetime.now(UTC) - timedelta(seconds=1)
    execution = run_graph(alice.client, graph["id"], {"name": "Ada"})
    r = alice.client.get(f"/executions/{execution['id']}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETED" and body["outputs"] == HELLO_OUTPUTS
    assert _ts(body["created_at"]) >= started
    assert _ts(body["started_at"]) <= _ts(body["ended_at"])
    nodes = {n["node_id"]: n for n in body["node_executions"]}
    assert set(nodes) == {"name", "greet", "count", "out_greeting", "out_length"}
    greet = nodes["greet"]
    assert greet["status"] == "COMPLETED" and greet["error"] is None and greet["attempts"] == 1
    assert greet["inputs"]["format"] == "Hello, {{ name }}!"
    assert greet["inputs"]["values"] == {"name": "Ada"}
    assert greet["outputs"] == [["output", "Hello, Ada!"]]
    assert nodes["count"]["outputs"] == [["count", 11]]
    for node in nodes.values():
        assert _ts(node["started_at"]) <= _ts(node["ended_at"]), node
        assert _ts(body["started_at"]) - timedelta(seconds=1) <= _ts(node["started_at"])
        uuid.UUID(node["id"])
    # The same run as the execute call returned it (live) and as stored: the same document.
    assert execution["outputs"] == body["outputs"]
    assert {n["node_id"]: n["outputs"] for n in execution["node_executions"]} == {
        k: v["outputs"] for k, v in nodes.items()
    }
    assert {n["node_id"]: _ts(n["started_at"]) for n in execution["node_executions"]} == {
        k: _ts(v["started_at"]) for k, v in nodes.items()
    }


def test_a_failed_run_names_the_failing_node(alice: User) -> None:
    doc = hello_graph()
    next(n for n in doc["nodes"] if n["id"] == "greet")["input_default"]["format"] = "Hello, {{ name.x.y }}!"
    graph = create_graph(alice.client, doc)
    r = alice.client.post(
        f"/graphs/{graph['id']}/execute", params={"wait": 10}, json={"inputs": {"name": "Ada"}}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "FAILED" and body["error_node_id"] == "greet"
    assert "greet" in body["error"] and "has no attribute 'x'" in body["error"]
    assert body["outputs"] == {}
    nodes = {n["node_id"]: n for n in body["node_executions"]}
    assert nodes["name"]["status"] == "COMPLETED"
    assert nodes["greet"]["status"] == "FAILED" and "has no attribute 'x'" in nodes["greet"]["error"]
    stored = alice.client.get(f"/executions/{body['id']}").json()
    assert (stored["status"], stored["error_node_id"]) == ("FAILED", "greet")
    assert (
        alice.client.get("/executions", params={"graph_id": graph["id"], "status": "FAILED"}).json()["total"]
        == 1
    )


def test_list_executions_with_filters_and_pages(alice: User) -> None:
    a = create_graph(alice.client, hello_graph(name="list A"))["id"]
    b = create_graph(alice.client, hello_graph(name="list B"))["id"]
    before = datetime.now(UTC) - timedelta(seconds=1)
    runs_a = [run_graph(alice.client, a, {"name": n})["id"] for n in ("Ada", "Bo")]
    run_b = run_graph(alice.client, b, {"name": "Cy"})["id"]
    after = datetime.now(UTC) + timedelta(seconds=1)

    r = alice.client.get("/executions", params={"graph_id": a})
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 2 and page["limit"] == 50 and page["offset"] == 0
    assert [e["id"] for e in page["items"]] == runs_a[::-1]  # newest first
    assert all(e["graph_id"] == a and e["node_executions"] is None for e in page["items"])
    assert page["items"][0]["outputs"] == {"greeting": ["Hello, Bo!"], "length": [10]}

    def ids(**params: object) -> list[str]:
        r = alice.client.get("/executions", params=params)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    assert ids(graph_id=b) == [run_b]
    assert ids(graph_id=a, status="COMPLETED") == runs_a[::-1]
    assert ids(graph_id=a, status="FAILED") == []
    assert ids(graph_id=a, since=before.isoformat(), until=after.isoformat()) == runs_a[::-1]
    assert ids(graph_id=a, since=after.isoformat()) == []
    assert ids(graph_id=a, until=before.isoformat()) == []
    assert ids(graph_id=a, since=before.replace(tzinfo=None).isoformat()) == runs_a[::-1]  # naive is UTC
    assert ids(graph_id=a, limit=1) == runs_a[1:]
    assert ids(graph_id=a, limit=1, offset=1) == runs_a[:1]
    past_the_end = alice.client.get("/executions", params={"graph_id": a, "offset": 5}).json()
    assert past_the_end["items"] == [] and past_the_end["total"] == 2
    assert ids(graph_id=str(uuid.uuid4())) == []
    everything = alice.client.get("/executions", params={"since": before.isoformat(), "limit": 500}).json()
    assert {run_b, *runs_a} <= {e["id"] for e in everything["items"]}


def test_bad_filters_are_400_naming_the_parameter(alice: User) -> None:
    for params in (
        {"status": "DONE"},
        {"since": "yesterday"},
        {"graph_id": "not-a-uuid"},
        {"limit": 0},
        {"offset": -5},
    ):
        r = alice.client.get("/executions", params=params)
        assert r.status_code == 400, params
        details = r.json()["error"]["details"]
        assert details[0]["key"] == next(iter(params)) and details[0]["source"] == "query", details


def test_cancel_a_running_execution_then_delete_it(alice: User) -> None:
    graph = create_graph(alice.client, timer_graph(30))
    r = alice.client.post(f"/graphs/{graph['id']}/execute", json={})
    assert r.status_code == 202
    eid = r.json()["id"]
    node_running(alice.client, eid, "timer")

    r = alice.client.delete(f"/executions/{eid}")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict" and "cancel" in r.json()["error"]["message"]

    r = alice.client.post(f"/executions/{eid}/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "CANCELLED" and r.json()["ended_at"] is not None
    body = wait_status(alice.client, eid, {"CANCELLED"})
    timer = next(n for n in body["node_executions"] if n["node_id"] == "timer")
    assert timer["status"] in {"CANCELLED", "FAILED"} and timer["outputs"] == []
    assert _ts(body["ended_at"]) - _ts(body["started_at"]) < timedelta(seconds=10)
    assert [
        e["status"] for e in alice.client.get("/executions", params={"graph_id": graph["id"]}).json()["items"]
    ] == ["CANCELLED"]

    r = alice.client.delete(f"/executions/{eid}")
    assert r.status_code == 204 and r.content == b""
    assert alice.client.get(f"/executions/{eid}").status_code == 404
    assert alice.client.post(f"/executions/{eid}/cancel").status_code == 404
    assert alice.client.delete(f"/executions/{eid}").status_code == 404
    assert alice.client.get("/executions", params={"graph_id": graph["id"]}).json()["total"] == 0


def test_cancelling_a_finished_execution_changes_nothing(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    eid = run_graph(alice.client, graph["id"], {"name": "Ada"})["id"]
    r = alice.client.post(f"/executions/{eid}/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "COMPLETED" and r.json()["outputs"] == HELLO_OUTPUTS
    assert alice.client.get(f"/executions/{eid}").json()["status"] == "COMPLETED"


def test_unknown_inputs_are_422_naming_them_and_the_valid_ones(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    r = alice.client.post(f"/graphs/{graph['id']}/execute", json={"inputs": {"nmae": "Ada", "age": 3}})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "'nmae'" in message and "'age'" in message and "name" in message
    assert alice.client.get("/executions", params={"graph_id": graph["id"]}).json()["total"] == 0


def test_a_nul_character_in_an_input_is_refused_naming_the_input(alice: User) -> None:
    """PostgreSQL cannot store U+0000: the run is refused, saying where, rather than stored altered."""
    graph = create_graph(alice.client, hello_graph())
    for inputs, where in (
        ({"name": "A\u0000da"}, "inputs.name"),
        ({"name": {"first": ["Ada", "x\u0000"]}}, "inputs.name.first[1]"),
    ):
        r = alice.client.post(f"/graphs/{graph['id']}/execute?wait=5", json={"inputs": inputs})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["message"] == (
            f"{where}: contains a NUL character (U+0000), which cannot be stored"
        )
    assert alice.client.get("/executions", params={"graph_id": graph["id"]}).json()["total"] == 0


JSON_DECODE_BLOCK = "f2667552-3ccd-4693-b555-1e8cbca86454"


def test_a_nul_a_block_produces_reads_the_same_in_the_reply_and_later(alice: User) -> None:
    """A block may yield a NUL (here decoded from the JSON escape, the input holds none): the
    database keeps U+FFFD, and the immediate reply already says what a later read says."""
    doc = {
        "id": str(uuid.uuid4()),
        "name": "Decode",
        "nodes": [
            {"id": "text", "block_id": INPUT_BLOCK, "input_default": {"name": "text"}},
            {"id": "decode", "block_id": JSON_DECODE_BLOCK},
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "value"}},
        ],
        "links": [
            {"source_id": "text", "source_name": "result", "sink_id": "decode", "sink_name": "json"},
            {"source_id": "decode", "source_name": "value", "sink_id": "out", "sink_name": "value"},
        ],
    }
    graph = create_graph(alice.client, doc)
    reply = run_graph(alice.client, graph["id"], {"text": '"a\\u0000b"'})
    assert reply["status"] == "COMPLETED", reply
    assert reply["outputs"] == {"value": ["a\ufffdb"]}
    later = alice.client.get(f"/executions/{reply['id']}").json()
    assert later["outputs"] == reply["outputs"]
    assert later["inputs"] == reply["inputs"] == {"text": '"a\\u0000b"'}

    def values(body: dict) -> dict:
        return {n["node_id"]: (n["inputs"], n["outputs"]) for n in body["node_executions"]}

    assert values(later) == values(reply)
    assert values(later)["decode"][1] == [["value", "a\ufffdb"]]


def test_execute_body_errors(alice: User) -> None:
    gid = create_graph(alice.client, hello_graph())["id"]
    for body in (
        {"inputs": ["Ada"]},
        {"priority": "urgent"},
        {"version": 0},
        {"version": "latest"},
        {"credentials": {"api": 5}},
        {"input": {"name": "Ada"}},  # a typo is refused, not ignored
    ):
        r = alice.client.post(f"/graphs/{gid}/execute", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["details"], body
    r = alice.client.post(
        f"/graphs/{gid}/execute", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    for wait in ("-1", "301", "soon"):
        r = alice.client.post(f"/graphs/{gid}/execute", params={"wait": wait}, json={})
        assert r.status_code == 400, wait
    r = alice.client.post(f"/graphs/{gid}/execute", json={"version": 7})
    assert r.status_code == 404
    assert alice.client.get("/executions", params={"graph_id": gid}).json()["total"] == 0


def test_execute_refuses_credentials_that_are_not_the_callers(alice: User, bob: User) -> None:
    gid = create_graph(alice.client, hello_graph())["id"]
    r = bob.client.post("/credentials", json={"provider": "openai", "secret": {"api_key": "sk-bob"}})
    bobs = r.json()["id"]
    for cred in (bobs, str(uuid.uuid4()), "not-an-id"):
        r = alice.client.post(f"/graphs/{gid}/execute", json={"inputs": {}, "credentials": {"openai": cred}})
        assert r.status_code == 404, cred
        assert r.json()["error"]["code"] == "not_found"
    assert alice.client.get("/executions", params={"graph_id": gid}).json()["total"] == 0


def test_unknown_execution_ids_are_404(alice: User) -> None:
    eid = str(uuid.uuid4())
    for r in (
        alice.client.get(f"/executions/{eid}"),
        alice.client.post(f"/executions/{eid}/cancel"),
        alice.client.delete(f"/executions/{eid}"),
    ):
        assert r.status_code == 404, r.request.url
