"""/api/v1/templates on a real server with accounts: publish as one user, search and fork as another,
the publisher alone unpublishes, credentials never travel, a missing one refuses the fork (422 naming
the provider), scopes apply."""

from __future__ import annotations

import uuid

from tests.server.api_support import User, api, create_graph, hello_graph, run_graph, signup
from tests.support.servers import ServerProcess

GITHUB_READ = "87ce6c27-5752-4bbc-8e26-6da40a3dcfd3"
INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"


def github_graph(cred_id: str) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "name": "Read a README",
        "nodes": [
            {"id": "in", "block_id": INPUT_BLOCK, "input_default": {"name": "path"}},
            {
                "id": "read",
                "block_id": GITHUB_READ,
                "input_default": {
                    "repo_url": "owner/repo",
                    "credentials": {"id": cred_id, "provider": "github", "type": "api_key"},
                },
            },
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "text"}},
        ],
        "links": [
            {"source_id": "in", "source_name": "result", "sink_id": "read", "sink_name": "file_path"},
            {"source_id": "read", "source_name": "text_content", "sink_id": "out", "sink_name": "value"},
        ],
    }


def test_publish_browse_fork_and_unpublish(accounts_server: ServerProcess) -> None:
    ada: User = signup(accounts_server, "ada")
    bob: User = signup(accounts_server, "bob")
    try:
        word = f"greeter{uuid.uuid4().hex[:8]}"
        graph = create_graph(ada.client, hello_graph(name=f"Hello {word}"))

        # Bob cannot publish Ada's graph; Ada publishes it with a description.
        r = bob.client.post("/templates", json={"graph_id": graph["id"], "description": "mine now"})
        assert r.status_code == 404
        r = ada.client.post(
            "/templates", json={"graph_id": graph["id"], "description": "Says hello by name."}
        )
        assert r.status_code == 201, r.text
        template = r.json()
        assert template["publisher"] == "ada" and "@" not in r.text.replace(template["description"], "")
        assert template["graph_id"] == graph["id"] and template["credentials"] == []
        r = ada.client.post("/templates", json={"graph_id": graph["id"], "bogus": 1})
        assert r.status_code == 400 or r.status_code == 422

        # Everyone searches, pages and reads it, and sees its graph.
        page = bob.client.get("/templates", params={"search": word, "limit": 10}).json()
        assert page["total"] == 1 and [t["id"] for t in page["items"]] == [template["id"]]
        assert bob.client.get("/templates", params={"search": "says HELLO"}).json()["total"] >= 1
        assert bob.client.get("/templates", params={"search": word, "offset": 5}).json() == {
            "items": [], "total": 1, "limit": 50, "offset": 5,
        }  # fmt: skip
        assert bob.client.get("/templates", params={"mine": True}).json()["total"] == 0
        assert ada.client.get("/templates", params={"mine": True}).json()["total"] == 1
        assert bob.client.get(f"/templates/{template['id']}").json()["name"] == f"Hello {word}"
        shown = bob.client.get(f"/templates/{template['id']}/graph").json()
        assert len(shown["nodes"]) == len(graph["nodes"]) and len(shown["links"]) == len(graph["links"])
        assert bob.client.get(f"/templates/{uuid.uuid4()}").status_code == 404

        # Bob forks: a new graph of his, with a fresh id, that runs; Ada's stays hers.
        r = bob.client.post(f"/templates/{template['id']}/fork", json={})
        assert r.status_code == 201, r.text
        fork = r.json()
        assert fork["id"] != graph["id"] and fork["name"] == f"Hello {word}"
        assert bob.client.get(f"/graphs/{fork['id']}").status_code == 200
        assert ada.client.get(f"/graphs/{fork['id']}").status_code == 404
        assert run_graph(bob.client, fork["id"], {"name": "Bo"})["outputs"]["greeting"] == ["Hello, Bo!"]
        named = bob.client.post(f"/templates/{template['id']}/fork", json={"name": "My greeter"})
        assert named.status_code == 201 and named.json()["name"] == "My greeter"
        assert bob.client.get(f"/templates/{template['id']}").json()["fork_count"] == 2

        # Only the publisher unpublishes (someone else's is 404); the forks stay.
        assert bob.client.delete(f"/templates/{template['id']}").status_code == 404
        assert ada.client.delete(f"/templates/{template['id']}").status_code == 204
        assert bob.client.get(f"/templates/{template['id']}").status_code == 404
        assert bob.client.get(f"/graphs/{fork['id']}").status_code == 200
    finally:
        ada.close()
        bob.close()


def test_credentials_are_stripped_and_missing_ones_refuse_the_fork(accounts_server: ServerProcess) -> None:
    ada: User = signup(accounts_server, "ada")
    bob: User = signup(accounts_server, "bob")
    try:
        secret = f"ghp_{uuid.uuid4().hex}"
        cred = ada.client.post(
            "/credentials", json={"provider": "github", "type": "api_key", "secret": {"api_key": secret}}
        ).json()
        graph = create_graph(ada.client, github_graph(cred["id"]))
        r = ada.client.post("/templates", json={"graph_id": graph["id"], "description": "Reads a file."})
        assert r.status_code == 201, r.text
        template = r.json()
        assert template["credentials"] == [
            {"provider": "github", "blocks": ["GithubReadFileBlock"], "models": []}
        ]
        shown = bob.client.get(f"/templates/{template['id']}/graph")
        assert cred["id"] not in shown.text and secret not in shown.text
        read = next(n for n in shown.json()["nodes"] if n["id"] == "read")
        assert "credentials" not in read["input_default"]

        before = bob.client.get("/graphs").json()["total"]
        r = bob.client.post(f"/templates/{template['id']}/fork", json={})
        assert r.status_code == 422
        message = r.json()["error"]["message"]
        assert "'github'" in message and "GithubReadFileBlock" in message and "/profile" in message
        assert bob.client.get("/graphs").json()["total"] == before  # nothing stored

        bob.client.post(
            "/credentials", json={"provider": "github", "type": "api_key", "secret": {"api_key": "x"}}
        )
        r = bob.client.post(f"/templates/{template['id']}/fork", json={})
        assert r.status_code == 201, r.text
        assert cred["id"] not in r.text
    finally:
        ada.close()
        bob.close()


def test_scopes_and_anonymous_callers(accounts_server: ServerProcess) -> None:
    ada: User = signup(accounts_server, "ada")
    try:
        graph = create_graph(ada.client, hello_graph())
        key, _ = ada.key("graphs:read")
        with api(accounts_server, api_key=key) as reader:
            assert reader.get("/templates").status_code == 200
            r = reader.post("/templates", json={"graph_id": graph["id"]})
            assert r.status_code == 403
        with api(accounts_server) as anonymous:
            assert anonymous.get("/templates").status_code == 401
    finally:
        ada.close()
