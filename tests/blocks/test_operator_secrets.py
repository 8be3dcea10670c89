"""The operator's own secrets never travel to a host a user chose (issue 10, findings 5 and 6), attacked
as the probe did: graphs run on a real server process whose environment holds libpq's variables, a
``~/.pgpass`` and the operator's LLM keys, against local lookalike servers that record what arrives."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from blocks.ai import AITextGeneratorBlock
from blocks.database import PostgresQueryBlock
from tests.server.api_support import User, create_graph, signup
from tests.support.fake_postgres import FakePostgres, fake_postgres
from tests.support.openai_server import serve
from tests.support.operator_server import PG_SECRETS, PGPASS_SECRET, SECRETS, operator_server
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    return operator_server(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def user(server: ServerProcess) -> Iterator[User]:
    found = signup(server, "secrets")
    yield found
    found.close()


@pytest.fixture
def pg() -> Iterator[FakePostgres]:
    with fake_postgres() as fake:
        yield fake


def one_node_graph(block_id: str, **defaults: object) -> dict:
    return {"name": "one node", "nodes": [{"id": "n", "block_id": block_id, "input_default": defaults}]}


def run(user: User, graph: dict) -> dict:
    gid = create_graph(user.client, graph)["id"]
    r = user.client.post(f"/graphs/{gid}/execute", params={"wait": 30}, json={"inputs": {}})
    assert r.status_code == 200, r.text
    return r.json()


def postgres_credential(user: User, secret: dict) -> str:
    r = user.client.post(
        "/credentials", json={"provider": "postgres", "type": "user_password", "secret": secret}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_credential_without_a_password_never_gets_the_servers(user: User, pg: FakePostgres) -> None:
    cred = postgres_credential(
        user, {"host": "127.0.0.1", "port": pg.port, "user": "alice", "database": "shop"}
    )
    result = run(user, one_node_graph(PostgresQueryBlock.id, credentials=cred, query="SELECT 1"))

    assert pg.logins, "the block never reached the database"
    for secret in (PG_SECRETS["PGPASSWORD"], PGPASS_SECRET, PG_SECRETS["PGUSER"], PG_SECRETS["PGDATABASE"]):
        assert secret.encode() not in pg.received, secret
    for login in pg.logins:
        assert login.params["user"] == "alice" and login.params["database"] == "shop"
        assert login.password == ""  # asked for one, it had none: an empty one, not the server's
    assert pg.tls_requests >= 1  # sslmode prefer (the default): TLS first, plain text when refused
    assert result["status"] == "FAILED"
    assert "password authentication failed" in result["error"]
    assert "the credential has no password" in result["error"], result["error"]


@pytest.mark.parametrize(
    "secret_at",
    [
        lambda port: {"host": "127.0.0.1", "port": port, "database": "shop"},
        lambda port: {"dsn": f"postgresql://127.0.0.1:{port}/shop"},
    ],
    ids=["fields", "dsn"],
)
def test_a_credential_without_a_user_is_refused_before_connecting(
    user: User, pg: FakePostgres, secret_at: Callable[[int], dict]
) -> None:
    secret = secret_at(pg.port)
    cred = postgres_credential(user, secret)
    result = run(user, one_node_graph(PostgresQueryBlock.id, credentials=cred, query="SELECT 1"))

    assert PG_SECRETS["PGUSER"].encode() not in pg.received and pg.logins == []
    assert result["status"] == "FAILED"
    assert "the postgres credential has no user" in result["error"], result["error"]


def test_a_node_naming_an_ollama_host_never_gets_the_operators_llm_key(
    user: User, server: ServerProcess
) -> None:
    with serve(api_key=None) as recorder:  # a keyless, Ollama-like server that records every request
        host = recorder.url.removeprefix("http://")
        graph = one_node_graph(AITextGeneratorBlock.id, prompt="Say hi", model="llama3.2", ollama_host=host)
        result = run(user, graph)
        requests = list(recorder.requests)

    assert result["status"] == "COMPLETED", result["error"]
    assert requests and requests[0].path == "/v1/chat/completions"
    for request in requests:
        assert "authorization" not in request.headers and "x-api-key" not in request.headers
        for secret in SECRETS:
            assert secret not in str(request.headers) and secret not in str(request.body)


def test_a_malformed_ollama_host_is_a_located_error(user: User, server: ServerProcess) -> None:
    graph = one_node_graph(
        AITextGeneratorBlock.id, prompt="Say hi", model="llama3.2", ollama_host="evil.test/steal?x="
    )
    result = run(user, graph)
    assert result["status"] == "FAILED"
    assert "pin 'ollama_host'" in result["error"] and "is not host:port" in result["error"]
