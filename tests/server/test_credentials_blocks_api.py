"""The credentials vault and the block catalogue over HTTP on a real server."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx

from tests.server.api_support import (
    TEMPLATE_BLOCK,
    TIMER_BLOCK,
    User,
    api,
    create_graph,
    database_fetch,
    database_rows_containing,
    hello_graph,
    run_graph,
    signup,
)
from tests.support.servers import ServerProcess

# ---- credentials -----------------------------------------------------------------------------------


def test_credentials_secret_goes_in_and_never_comes_out(configured_server: ServerProcess) -> None:
    """Through create, list, use in a run and delete, the secret is in no response, no log line
    (at debug level) and no database row in plain text."""
    secret = f"sk-live-{uuid.uuid4().hex}"
    user = signup(configured_server, "vault")
    try:
        c = user.client
        r = c.post(
            "/credentials",
            json={
                "provider": "openai",
                "type": "api_key",
                "title": "My key",
                "secret": {"api_key": secret},
                "expires_at": "2099-01-01T00:00:00Z",
            },
        )
        assert r.status_code == 201
        created = r.json()
        assert set(created) == {"id", "provider", "type", "title", "created_at", "expires_at"}
        assert (
            created["provider"] == "openai" and created["type"] == "api_key" and created["title"] == "My key"
        )
        assert created["expires_at"].startswith("2099-01-01")
        other = c.post(
            "/credentials", json={"provider": "github", "secret": {"token": secret + "-gh"}}
        ).json()

        listed = c.get("/credentials")
        assert listed.status_code == 200
        assert [x["id"] for x in listed.json()] == [other["id"], created["id"]]  # newest first
        assert listed.json()[1] == created
        assert [x["id"] for x in c.get("/credentials", params={"provider": "openai"}).json()] == [
            created["id"]
        ]
        assert c.get("/credentials", params={"provider": "nobody"}).json() == []

        graph = create_graph(c, hello_graph())
        run = c.post(
            f"/graphs/{graph['id']}/execute",
            params={"wait": 10},
            json={"inputs": {"name": "Ada"}, "credentials": {"openai": created["id"]}},
        )
        assert run.status_code == 200 and run.json()["inputs"] == {"name": "Ada"}
        stored = c.get(f"/executions/{run.json()['id']}")

        for response in (r, listed, run, stored):
            assert secret not in response.text
        assert database_rows_containing(configured_server, secret) == []
        rows = database_fetch(
            configured_server,
            "SELECT encrypted_data FROM credentials WHERE id = $1",
            uuid.UUID(created["id"]),
        )
        assert len(rows) == 1 and secret.encode() not in rows[0]["encrypted_data"]

        r = c.delete(f"/credentials/{created['id']}")
        assert r.status_code == 204 and r.content == b""
        assert [x["id"] for x in c.get("/credentials").json()] == [other["id"]]
        assert c.delete(f"/credentials/{created['id']}").status_code == 404
        assert c.delete(f"/credentials/{uuid.uuid4()}").status_code == 404
        assert c.delete("/credentials/not-a-uuid").status_code == 400  # malformed, said so
        assert secret not in configured_server.log.read_text()
    finally:
        user.close()


def test_an_execution_keeps_the_credential_reference_not_the_secret(
    alice: User, accounts_server: ServerProcess
) -> None:
    cred = alice.client.post(
        "/credentials", json={"provider": "openai", "secret": {"api_key": "sk-ref"}}
    ).json()
    graph = create_graph(alice.client, hello_graph())
    run = run_graph(alice.client, graph["id"], {"name": "Ada"}, credentials={"openai": cred["id"]})
    rows = database_fetch(
        accounts_server, "SELECT credentials FROM graph_executions WHERE id = $1", uuid.UUID(run["id"])
    )
    assert rows[0]["credentials"] in ({"openai": cred["id"]}, json.dumps({"openai": cred["id"]}))


def test_credential_body_errors(alice: User) -> None:
    for body in (
        {"provider": "openai"},
        {"provider": "openai", "secret": {}},
        {"provider": "openai", "secret": "sk-plain"},
        {"provider": "", "secret": {"api_key": "x"}},
        {"provider": "   ", "secret": {"api_key": "x"}},
        {"provider": "openai", "type": "magic", "secret": {"api_key": "x"}},
        {"provider": "openai", "secret": {"api_key": "x"}, "expires_at": "soon"},
        {"provider": "x" * 101, "secret": {"api_key": "x"}},
        {"provider": "openai", "secret": {"api_key": "x"}, "owner": "someone else"},
    ):
        r = alice.client.post("/credentials", json=body)
        assert r.status_code == 422, body
        assert "sk-plain" not in r.text and '"x"' not in r.text
    for provider in ("p" * 101, "open\x00ai"):
        r = alice.client.get("/credentials", params={"provider": provider})
        assert r.status_code == 400 and r.json()["error"]["details"][0]["key"] == "provider"


# ---- blocks ----------------------------------------------------------------------------------------


def test_block_catalogue_with_etag(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        r = c.get("/blocks")
        assert r.status_code == 200
        blocks = r.json()
        assert len(blocks) >= 40
        assert [b["name"] for b in blocks] == sorted(b["name"] for b in blocks)
        for b in blocks:
            assert set(b) == {
                "id",
                "name",
                "description",
                "categories",
                "block_type",
                "static_output",
                "input_schema",
                "output_schema",
            }
            assert b["input_schema"]["type"] == "object" and b["output_schema"]["type"] == "object"
        timer = next(b for b in blocks if b["id"] == TIMER_BLOCK)
        assert timer["name"] == "CountdownTimerBlock" and timer["categories"] == ["TEXT"]
        assert "seconds" in timer["input_schema"]["properties"]

        etag = r.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        unchanged = c.get("/blocks", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["etag"] == etag
        assert c.get("/blocks", headers={"If-None-Match": '"something else"'}).status_code == 200
        for header in (f'"older", {etag}', f"W/{etag}", "*"):
            assert c.get("/blocks", headers={"If-None-Match": header}).status_code == 304, header
        assert c.get("/blocks").headers["etag"] == etag  # stable


def test_block_catalogue_is_gzipped_when_asked(local_server: ServerProcess) -> None:
    with httpx.Client(base_url=local_server.base_url) as raw:
        plain = raw.get("/api/v1/blocks", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        with raw.stream("GET", "/api/v1/blocks", headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            assert r.headers["etag"] == plain.headers["etag"]
            sent = b"".join(r.iter_raw())  # the bytes as sent, decoded here to check them
        assert json.loads(gzip.decompress(sent)) == plain.json()
        assert len(sent) < len(plain.content) / 3
        # A small response is not worth compressing.
        small = raw.get("/api/v1/health", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in small.headers


def test_one_block_and_unknown_blocks(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        r = c.get(f"/blocks/{TEMPLATE_BLOCK}")
        assert r.status_code == 200
        block = r.json()
        assert block["name"] == "FillTextTemplateBlock" and block["input_schema"]["required"] == [
            "values",
            "format",
        ]
        for path in (f"/blocks/{uuid.uuid4()}", f"/blocks/{uuid.uuid4()}/execute"):
            r = c.post(path, json={}) if path.endswith("execute") else c.get(path)
            assert r.status_code == 404, path
        r = c.get("/blocks/not-a-uuid")
        assert r.status_code == 400 and "block_id" in r.json()["error"]["message"]


def test_run_one_block(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        r = c.post(
            f"/blocks/{TEMPLATE_BLOCK}/execute",
            json={"inputs": {"format": "Hello, {{ who }}!", "values": {"who": "Ada"}}},
        )
        assert r.status_code == 200
        assert r.json() == {"outputs": [["output", "Hello, Ada!"]], "error": None}

        # What the block itself reports as an error is an output, with the error named.
        r = c.post(f"/blocks/{TIMER_BLOCK}/execute", json={"inputs": {"seconds": "soon"}})
        assert r.status_code == 200
        assert r.json()["error"] == "seconds must be a number, got 'soon'"

        # Inputs that do not fit the block's schema are the caller's mistake.
        r = c.post(f"/blocks/{TEMPLATE_BLOCK}/execute", json={"inputs": {"values": {}}})
        assert r.status_code == 422 and "format" in r.json()["error"]["message"]
        r = c.post(f"/blocks/{TEMPLATE_BLOCK}/execute", json={"inputs": []})
        assert r.status_code == 422
        r = c.post(f"/blocks/{TEMPLATE_BLOCK}/execute", json={"input": {}})
        assert r.status_code == 422

        # The agent executor runs only inside a graph.
        r = c.post("/blocks/e189baac-8c20-45a1-94a7-55177ea42565/execute", json={"inputs": {}})
        assert r.status_code == 422 and "graph" in r.json()["error"]["message"]


def test_a_graph_run_and_a_block_run_agree(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        graph = create_graph(c, hello_graph())
        assert run_graph(c, graph["id"], {"name": "Ada"})["outputs"]["greeting"] == ["Hello, Ada!"]
        r = c.post(
            f"/blocks/{TEMPLATE_BLOCK}/execute",
            json={"inputs": {"format": "Hello, {{ name }}!", "values": {"name": "Ada"}}},
        )
        assert r.json()["outputs"] == [["output", "Hello, Ada!"]]
