"""Endpoints a user names that the outbound guard refuses are the user's mistake, told without mapping
the internal network (issue 10, findings 12 and 13), over HTTP on the run's real ``--auth accounts``
server (default policy: loopback and private addresses refused): a knowledge base whose embeddings
endpoint (the base_url of the user's ``openai`` credential) is 127.0.0.1 or ``localhost`` is a 422
naming the field, never a 500; a refusal names the host as the user typed it, never the address a
name resolved to; the web request block says the same."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.server.api_support import User, create_graph, signup
from tests.support.openai_server import LLMServer, serve
from tests.support.servers import ServerProcess

WEB_REQUEST_BLOCK = "6595ae1f-b924-42cb-9a41-551a0611c4b4"
LOOPBACK_IPS = re.compile(r"127\.0\.0\.\d+|::1|0:0:0:0:0:0:0:1")


@pytest.fixture(scope="module")
def server(accounts_server: ServerProcess) -> ServerProcess:
    return accounts_server


@pytest.fixture
def user(server: ServerProcess) -> Iterator[User]:
    found = signup(server, "ssrf")
    yield found
    found.close()


@pytest.fixture(scope="module")
def embeddings() -> Iterator[LLMServer]:
    """A real embeddings endpoint on 127.0.0.1: it must never be reached."""
    with serve(embedding_dim=32) as llm:
        yield llm


def use_endpoint(user: User, base_url: str) -> None:
    r = user.client.post(
        "/credentials", json={"provider": "openai", "secret": {"api_key": "user-key", "base_url": base_url}}
    )
    assert r.status_code == 201, r.text


def embedding_problem(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == "invalid_input", body
    found = {d["key"]: d["message"] for d in body["error"]["details"]}
    assert set(found) == {"embedding_model"}, found
    return found["embedding_model"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_refused_embeddings_endpoint_is_a_located_422(user: User, embeddings: LLMServer, host: str) -> None:
    port = embeddings.url.rsplit(":", 1)[1]
    use_endpoint(user, f"http://{host}:{port}/v1")
    embeddings.reset()

    # Creating one probes the dimension of an unknown model: refused before anything is sent.
    r = user.client.post("/knowledge", json={"name": "probed", "embedding_model": "hash-embed-v1"})
    assert r.status_code == 422, r.text
    message = embedding_problem(r)
    assert f"refused to connect to {host}" in message and "'openai' credential" in message
    assert "WORKBENCH_HTTP_ALLOW" in message
    if host == "localhost":
        assert "resolves to a loopback address" in message
        assert not LOOPBACK_IPS.search(r.text), r.text  # the resolved address is never told

    # A model of known dimension is created without a request; adding and searching are refused.
    r = user.client.post("/knowledge", json={"name": "known", "embedding_model": "text-embedding-3-small"})
    assert r.status_code == 201, r.text
    kb = r.json()["id"]
    r = user.client.post(f"/knowledge/{kb}/documents", json={"content": "Cats sleep a lot."})
    assert r.status_code == 422 and f"refused to connect to {host}" in embedding_problem(r)
    r = user.client.post(f"/knowledge/{kb}/search", json={"query": "cats", "mode": "vector"})
    assert r.status_code == 422 and f"refused to connect to {host}" in embedding_problem(r)
    if host == "localhost":
        assert not LOOPBACK_IPS.search(r.text), r.text
    assert embeddings.requests == []


def test_the_web_request_blocks_refusal_names_the_host_not_its_address(
    user: User, embeddings: LLMServer
) -> None:
    port = embeddings.url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/v1/models"
    embeddings.reset()
    r = user.client.post(
        f"/blocks/{WEB_REQUEST_BLOCK}/execute", json={"inputs": {"url": url, "method": "GET"}}
    )
    assert r.status_code == 200, r.text
    error = r.json()["error"]
    assert "refused to connect to localhost: the name resolves to a loopback address" in error, error
    assert not LOOPBACK_IPS.search(error), error

    graph = {
        "name": "fetch",
        "nodes": [
            {"id": "get", "block_id": WEB_REQUEST_BLOCK, "input_default": {"url": url, "method": "GET"}}
        ],
    }
    gid = create_graph(user.client, graph)["id"]
    run = user.client.post(f"/graphs/{gid}/execute", params={"wait": 30}, json={"inputs": {}}).json()
    assert run["status"] == "FAILED" and "refused to connect to localhost" in run["error"]
    assert not LOOPBACK_IPS.search(run["error"]), run["error"]
    assert embeddings.requests == []
