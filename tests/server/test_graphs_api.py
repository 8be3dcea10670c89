"""Graphs over HTTP on a real server: create (AutoGPT exports, legacy ids), list, get, versions,
activate, export, delete, and each way a request can be wrong."""

from __future__ import annotations

import uuid

from tests.server.api_support import (
    LEGACY_NOTE_BLOCK,
    NOTE_BLOCK,
    TEMPLATE_BLOCK,
    User,
    api,
    create_graph,
    hello_graph,
    node_running,
    run_graph,
    signup,
    timer_graph,
)
from tests.support.servers import ServerProcess


def test_create_returns_the_stored_graph_and_get_returns_it_again(alice: User) -> None:
    doc = hello_graph(name="Greeter")
    created = create_graph(alice.client, doc)
    assert created["id"] == doc["id"]
    assert created["version"] == 1
    assert created["is_active"] is True
    assert created["name"] == "Greeter"
    assert [n["id"] for n in created["nodes"]] == ["name", "greet", "count", "out_greeting", "out_length"]
    assert len(created["links"]) == 4
    assert all(link["id"] for link in created["links"])  # derived when the document has none

    got = alice.client.get(f"/graphs/{doc['id']}")
    assert got.status_code == 200
    assert got.json() == created


def test_create_accepts_an_autogpt_export_with_its_extra_fields_and_legacy_block_ids(alice: User) -> None:
    doc = hello_graph(name="Exported from AutoGPT")
    doc.update(
        user_id="3e53486c-cf57-477e-ba2a-cb02dc828e1a",
        forked_from_id=None,
        created_at="2024-09-18T10:00:00Z",
        input_schema={"type": "object"},
    )
    for node in doc["nodes"]:
        node.update(graph_id=doc["id"], graph_version=1, webhook_id=None, input_links=[], output_links=[])
    doc["nodes"].append(
        {
            "id": "note",
            "block_id": LEGACY_NOTE_BLOCK,
            "input_default": {"text": "an old export"},
            "metadata": {},
        }
    )
    created = create_graph(alice.client, doc)
    note = next(n for n in created["nodes"] if n["id"] == "note")
    assert note["block_id"] == NOTE_BLOCK
    assert "user_id" not in created and "webhook_id" not in note
    assert run_graph(alice.client, created["id"], {"name": "Ada"})["outputs"] == {
        "greeting": ["Hello, Ada!"],
        "length": [11],
    }


def test_create_gives_fresh_ids_for_null_or_empty_ones_as_autogpt_does(alice: User) -> None:
    for blank in (None, ""):
        doc = hello_graph(name="Blank ids", id=blank)
        doc["links"] = [{**link, "id": blank} for link in doc["links"]]
        created = create_graph(alice.client, doc)
        uuid.UUID(created["id"])
        assert all(link["id"] for link in created["links"])
        assert run_graph(alice.client, created["id"], {"name": "Ada"})["outputs"]["greeting"] == [
            "Hello, Ada!"
        ]


def test_export_is_an_autogpt_document_that_imports_back(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph(name="Round trip"))
    r = alice.client.get(f"/graphs/{graph['id']}/export")
    assert r.status_code == 200
    doc = r.json()
    assert doc["id"] == graph["id"] and doc["version"] == 1 and doc["name"] == "Round trip"
    greet = next(n for n in doc["nodes"] if n["id"] == "greet")
    assert [link["source_id"] for link in greet["input_links"]] == ["name"]
    assert sorted(link["sink_id"] for link in greet["output_links"]) == ["count", "out_greeting"]
    assert greet["graph_id"] == graph["id"] and greet["graph_version"] == 1
    assert doc["sub_graphs"] == []

    doc["id"] = str(uuid.uuid4())
    copy = create_graph(alice.client, doc)
    assert copy["version"] == 1
    assert run_graph(alice.client, copy["id"], {"name": "Bo"})["outputs"] == {
        "greeting": ["Hello, Bo!"],
        "length": [10],
    }


def test_list_is_paginated_newest_first_and_searchable_by_name(alice: User) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [create_graph(alice.client, hello_graph(name=f"Paged {tag} #{i}"))["id"] for i in range(3)]

    r = alice.client.get("/graphs", params={"search": f"paged {tag}"})  # case-insensitive, a part of the name
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 3 and page["limit"] == 50 and page["offset"] == 0
    assert [g["id"] for g in page["items"]] == ids[::-1]
    summary = page["items"][0]
    assert set(summary) == {
        "id",
        "version",
        "name",
        "description",
        "is_active",
        "created_at",
        "updated_at",
        "node_count",
        "note",
        "mcp_tool",
    }
    assert summary["node_count"] == 5 and summary["is_active"] and summary["version"] == 1
    assert summary["mcp_tool"] is None  # the server's default (with accounts: not an MCP tool)

    first = alice.client.get("/graphs", params={"search": tag, "limit": 2}).json()
    assert [g["id"] for g in first["items"]] == ids[:0:-1] and first["total"] == 3 and first["limit"] == 2
    rest = alice.client.get("/graphs", params={"search": tag, "limit": 2, "offset": 2}).json()
    assert [g["id"] for g in rest["items"]] == ids[:1] and rest["total"] == 3 and rest["offset"] == 2
    beyond = alice.client.get("/graphs", params={"search": tag, "offset": 10}).json()
    assert beyond["items"] == [] and beyond["total"] == 3

    assert alice.client.get("/graphs", params={"search": f"nothing-{tag}"}).json()["total"] == 0


def test_versions_put_activate_and_get_by_version(alice: User) -> None:
    v1 = create_graph(alice.client, hello_graph(name="Versioned"))
    gid = v1["id"]
    doc2 = hello_graph(name="Versioned")
    next(n for n in doc2["nodes"] if n["id"] == "greet")["input_default"]["format"] = "Hi, {{ name }}!"
    r = alice.client.put(f"/graphs/{gid}", json=doc2)  # the body's own id does not matter: the path's does
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["id"] == gid and v2["version"] == 2 and v2["is_active"] is True

    assert alice.client.get(f"/graphs/{gid}").json()["version"] == 2
    old = alice.client.get(f"/graphs/{gid}", params={"version": 1}).json()
    assert old["version"] == 1 and old["is_active"] is False
    greet = next(n for n in old["nodes"] if n["id"] == "greet")
    assert greet["input_default"]["format"] == "Hello, {{ name }}!"

    versions = alice.client.get(f"/graphs/{gid}/versions").json()
    assert [(v["version"], v["is_active"]) for v in versions] == [(2, True), (1, False)]
    assert run_graph(alice.client, gid, {"name": "Ada"})["outputs"]["greeting"] == ["Hi, Ada!"]
    assert run_graph(alice.client, gid, {"name": "Ada"}, version=1)["outputs"]["greeting"] == ["Hello, Ada!"]

    r = alice.client.put(f"/graphs/{gid}/versions/active", json={"version": 1})
    assert r.status_code == 200
    assert r.json()["version"] == 1 and r.json()["is_active"] is True
    assert alice.client.get(f"/graphs/{gid}").json()["version"] == 1
    assert run_graph(alice.client, gid, {"name": "Ada"})["outputs"]["greeting"] == ["Hello, Ada!"]
    listed = alice.client.get("/graphs", params={"search": "Versioned"}).json()["items"]
    assert [(g["id"], g["version"]) for g in listed if g["id"] == gid] == [(gid, 1)]
    assert alice.client.get(f"/graphs/{gid}/export", params={"version": 2}).json()["version"] == 2

    assert alice.client.get(f"/graphs/{gid}", params={"version": 3}).status_code == 404
    assert alice.client.get(f"/graphs/{gid}/export", params={"version": 3}).status_code == 404
    r = alice.client.put(f"/graphs/{gid}/versions/active", json={"version": 3})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_create_with_an_id_of_its_own_is_409_pointing_to_put(alice: User) -> None:
    """Creating never adds a version silently: the caller is told how to. The same document posted
    again (a README line run twice) gives the stored graph."""
    doc = hello_graph()
    create_graph(alice.client, doc)
    again = alice.client.post("/graphs", json=doc)
    assert again.status_code == 201 and again.json()["version"] == 1, again.text
    r = alice.client.post("/graphs", json={**doc, "name": "Hello, changed"})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict"
    assert f"PUT /api/v1/graphs/{doc['id']}" in r.json()["error"]["message"]
    versions = alice.client.get(f"/graphs/{doc['id']}/versions").json()
    assert [v["version"] for v in versions] == [1]
    r = alice.client.put(f"/graphs/{doc['id']}", json=doc)
    assert r.status_code == 200 and r.json()["version"] == 2


def test_create_with_another_users_id_gets_a_fresh_id(alice: User, bob: User) -> None:
    doc = hello_graph()
    create_graph(alice.client, doc)
    theirs = create_graph(bob.client, doc)
    assert theirs["id"] != doc["id"] and theirs["version"] == 1
    assert alice.client.get(f"/graphs/{doc['id']}/versions").json()[0]["version"] == 1


def test_delete_removes_every_version_and_the_executions(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    gid = graph["id"]
    assert alice.client.put(f"/graphs/{gid}", json=hello_graph()).status_code == 200
    execution = run_graph(alice.client, gid, {"name": "Ada"})

    r = alice.client.delete(f"/graphs/{gid}")
    assert r.status_code == 204 and r.content == b""
    assert alice.client.get(f"/graphs/{gid}").status_code == 404
    assert alice.client.get(f"/graphs/{gid}", params={"version": 1}).status_code == 404
    assert alice.client.get(f"/graphs/{gid}/versions").status_code == 404
    assert alice.client.get(f"/executions/{execution['id']}").status_code == 404
    assert alice.client.get("/executions", params={"graph_id": gid}).json()["total"] == 0
    assert alice.client.delete(f"/graphs/{gid}").status_code == 404


def test_a_graph_with_a_running_execution_is_not_deleted_until_it_is_cancelled(alice: User) -> None:
    graph = create_graph(alice.client, timer_graph(30))
    gid = graph["id"]
    eid = alice.client.post(f"/graphs/{gid}/execute", json={}).json()["id"]
    node_running(alice.client, eid, "timer")
    r = alice.client.delete(f"/graphs/{gid}")
    assert r.status_code == 409
    assert eid in r.json()["error"]["message"] and "cancel" in r.json()["error"]["message"]
    assert alice.client.get(f"/graphs/{gid}").status_code == 200
    assert alice.client.post(f"/executions/{eid}/cancel").json()["status"] == "CANCELLED"
    assert alice.client.delete(f"/graphs/{gid}").status_code == 204
    assert alice.client.get(f"/executions/{eid}").status_code == 404
    # Runs of other graphs are still recorded.
    other = create_graph(alice.client, hello_graph())
    done = run_graph(alice.client, other["id"], {"name": "Ada"})
    assert alice.client.get(f"/executions/{done['id']}").json()["status"] == "COMPLETED"


# ---- what goes wrong -----------------------------------------------------------------------------


def test_an_invalid_graph_is_422_with_every_problem_located(alice: User) -> None:
    doc = hello_graph()
    doc["nodes"].append({"id": "ghost", "block_id": str(uuid.uuid4())})
    doc["links"].append(
        {"source_id": "greet", "source_name": "output", "sink_id": "nowhere", "sink_name": "x"}
    )
    doc["links"].append(
        {"source_id": "name", "source_name": "result", "sink_id": "greet", "sink_name": "frmat"}
    )
    r = alice.client.post("/graphs", json=doc)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_graph"
    problems = error["problems"]
    assert {"code", "message", "node_id", "link_id", "pin"} == set(problems[0])
    assert any(p["node_id"] == "ghost" and p["code"] == "unknown_block" for p in problems), problems
    assert any(p["link_id"] and "nowhere" in p["message"] for p in problems), problems
    assert any("frmat" in p["message"] or p["pin"] == "frmat" for p in problems), problems
    assert len(problems) >= 3
    assert alice.client.get(f"/graphs/{doc['id']}").status_code == 404  # nothing stored

    bad_update = hello_graph()
    bad_update["nodes"][1]["block_id"] = "not-a-block"
    gid = create_graph(alice.client, hello_graph())["id"]
    r = alice.client.put(f"/graphs/{gid}", json=bad_update)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["node_id"] == "greet"
    assert [v["version"] for v in alice.client.get(f"/graphs/{gid}/versions").json()] == [1]


def test_a_node_missing_a_required_input_is_located(alice: User) -> None:
    doc = {
        "id": str(uuid.uuid4()),
        "nodes": [{"id": "t", "block_id": TEMPLATE_BLOCK, "input_default": {"values": {}}}],
        "links": [],
    }
    r = alice.client.post("/graphs", json=doc)
    assert r.status_code == 422
    assert any(p["node_id"] == "t" for p in r.json()["error"]["problems"])


def test_bad_json_is_400(alice: User) -> None:
    for body in (b"{bad", b"", b'{"nodes": [}'):
        r = alice.client.post("/graphs", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, body
        assert r.json()["error"]["code"] == "bad_request"
    r = alice.client.put(
        f"/graphs/{uuid.uuid4()}", content=b"nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


def test_wrong_types_are_422_with_field_details(alice: User) -> None:
    r = alice.client.post("/graphs", json={"name": ["not", "a", "name"], "nodes": 5})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert {d["key"] for d in error["details"]} >= {"nodes", "name"}
    assert all(d["source"] == "body" and d["message"] for d in error["details"])

    r = alice.client.post("/graphs", json=[1, 2])
    assert r.status_code == 422

    gid = create_graph(alice.client, hello_graph())["id"]
    for body in ({"version": "two"}, {"version": 0}, {}, {"version": 1, "extra": True}):
        r = alice.client.put(f"/graphs/{gid}/versions/active", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["details"], body


def test_bad_query_parameters_are_400_naming_them(alice: User) -> None:
    for params in (
        {"limit": 0},
        {"limit": "many"},
        {"offset": -1},
        {"limit": 501},
        {"search": "x" * 201},
        {"search": "a\x00b"},
    ):
        r = alice.client.get("/graphs", params=params)
        assert r.status_code == 400, params
        details = r.json()["error"]["details"]
        assert details and details[0]["source"] == "query" and details[0]["key"] == next(iter(params))
    r = alice.client.get(f"/graphs/{uuid.uuid4()}", params={"version": 0})
    assert r.status_code == 400


def test_unknown_graph_ids_are_404_on_every_route(alice: User) -> None:
    gid = str(uuid.uuid4())
    c = alice.client
    responses = [
        c.get(f"/graphs/{gid}"),
        c.get(f"/graphs/{gid}", params={"version": 1}),
        c.put(f"/graphs/{gid}", json=hello_graph()),
        c.get(f"/graphs/{gid}/versions"),
        c.put(f"/graphs/{gid}/versions/active", json={"version": 1}),
        c.get(f"/graphs/{gid}/export"),
        c.delete(f"/graphs/{gid}"),
        c.post(f"/graphs/{gid}/execute", json={"inputs": {}}),
    ]
    for r in responses:
        assert r.status_code == 404, (r.request.method, r.request.url)
        assert r.json()["error"]["code"] == "not_found"


def test_a_malformed_id_in_a_path_is_400_naming_the_parameter(alice: User) -> None:
    """Not a bare 404: the caller learns the id is malformed, and which one, on every route."""
    c = alice.client
    responses = [
        (c.get("/graphs/not-a-uuid"), "graph_id"),
        (c.put("/graphs/12345", json=hello_graph()), "graph_id"),
        (c.get("/graphs/not-a-uuid/versions"), "graph_id"),
        (c.delete("/graphs/x"), "graph_id"),
        (c.post("/graphs/not-a-uuid/execute", json={"inputs": {}}), "graph_id"),
        (c.get("/executions/not-a-uuid"), "execution_id"),
        (c.post("/executions/not-a-uuid/cancel"), "execution_id"),
        (c.get("/blocks/not-a-uuid"), "block_id"),
    ]
    for r, name in responses:
        assert r.status_code == 400, (r.request.method, r.request.url, r.text)
        error = r.json()["error"]
        assert error["code"] == "bad_request"
        assert error["message"] == f"{name}: not a valid id (expected a UUID)"
        assert error["details"] == [
            {"key": name, "source": "path", "message": "not a valid id (expected a UUID)"}
        ]
    # an unknown path is still 404
    assert c.get("/graphs/not-a-uuid/nothing-here").status_code == 404


def test_local_mode_needs_no_login(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        graph = create_graph(c, hello_graph())
        assert c.get(f"/graphs/{graph['id']}").status_code == 200
        assert c.get("/graphs").json()["total"] >= 1
        assert run_graph(c, graph["id"], {"name": "Ada"})["outputs"] == {
            "greeting": ["Hello, Ada!"],
            "length": [11],
        }
        me = c.get("/auth/me").json()
        assert me["id"] == "00000000-0000-0000-0000-000000000001" and me["email"] == "local@localhost"


def test_graphs_of_different_users_do_not_mix(accounts_server: ServerProcess) -> None:
    carol, dave = signup(accounts_server, "carol"), signup(accounts_server, "dave")
    try:
        create_graph(carol.client, hello_graph(name="Carol's"))
        assert dave.client.get("/graphs").json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
        assert [g["name"] for g in carol.client.get("/graphs").json()["items"]] == ["Carol's"]
    finally:
        carol.close()
        dave.close()


def test_the_openapi_schema_describes_every_route_and_its_errors(accounts_server: ServerProcess) -> None:
    with accounts_server.client() as raw:
        schema = raw.get("/api/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/api/v1/health": {"get"},
        "/api/v1/graphs": {"get", "post"},
        "/api/v1/graphs/{graph_id}": {"get", "put", "delete"},
        "/api/v1/graphs/{graph_id}/versions": {"get"},
        "/api/v1/graphs/{graph_id}/versions/active": {"put"},
        "/api/v1/graphs/{graph_id}/export": {"get"},
        "/api/v1/graphs/{graph_id}/execute": {"post"},
        "/api/v1/executions": {"get"},
        "/api/v1/executions/{execution_id}": {"get", "delete"},
        "/api/v1/executions/{execution_id}/cancel": {"post"},
        "/api/v1/blocks": {"get"},
        "/api/v1/blocks/{block_id}": {"get"},
        "/api/v1/blocks/{block_id}/execute": {"post"},
        "/api/v1/credentials": {"get", "post"},
        "/api/v1/credentials/{credential_id}": {"delete"},
        "/api/v1/api-keys": {"get", "post"},
        "/api/v1/api-keys/{key_id}": {"delete"},
        "/api/v1/auth/signup": {"post"},
        "/api/v1/auth/login": {"post"},
        "/api/v1/auth/refresh": {"post"},
        "/api/v1/auth/me": {"get"},
        "/api/v1/auth/password-reset": {"post"},
        "/api/v1/auth/password-reset/confirm": {"post"},
        "/api/v1/auth/verify-email": {"post"},
        "/api/v1/auth/verify-email/request": {"post"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    assert paths["/api/v1/graphs/{graph_id}/execute"]["post"]["responses"].keys() >= {
        "200",
        "202",
        "404",
        "422",
    }
    assert paths["/api/v1/graphs"]["post"]["responses"].keys() >= {"201", "400", "401", "403", "422", "429"}
    assert paths["/api/v1/graphs/{graph_id}"]["delete"]["responses"].keys() >= {"204", "404", "409"}
    assert paths["/api/v1/executions/{execution_id}"]["delete"]["responses"].keys() >= {"204", "404", "409"}
    assert "ErrorOut" in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"].keys() == {"bearer", "apiKey"}
