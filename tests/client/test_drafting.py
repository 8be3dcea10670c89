"""Build by chat over HTTP: ``POST /api/v1/graphs/draft`` on a real server process, the remote client's
``draft`` / ``draft_agent`` (through the blocking client too), and the drafted agent run on the server.
The model is the local OpenAI-compatible server, scripted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.drafting.test_service import ENV_KEYS, SUMMARISER, call, calls
from tests.server.api_support import api
from tests.support.openai_server import LLMServer
from tests.support.servers import ServerProcess, start_server, stop_server
from workbench.client import Client, RemoteClient
from workbench.drafting import DraftNotAccepted
from workbench.errors import NotFoundError, ServerError
from workbench.graph.model import Graph


@pytest.fixture(scope="module")
def draft_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``workbench serve --auth none`` allowed to reach 127.0.0.1 (the local LLM server), with no
    LLM in its environment: the user's credential is the model."""
    env = {"WORKBENCH_RATE_LIMIT": "off", "WORKBENCH_SCHEDULER": "off", "WORKBENCH_HTTP_ALLOW": "127.0.0.0/8"}
    env.update(dict.fromkeys(ENV_KEYS, ""))
    server = start_server(tmp_path_factory.mktemp("drafts") / "home", "none", env)
    yield server
    stop_server(server)


@pytest.fixture
def fresh(llm: LLMServer) -> LLMServer:
    """The scripted model, with nothing queued or recorded."""
    llm.reset()
    return llm


@pytest.fixture
def blocking(draft_server: ServerProcess) -> Iterator[Client]:
    """The blocking client (what a notebook uses) on the server."""
    client = Client(RemoteClient(draft_server.base_url)).open()
    yield client
    client.close()


def test_without_an_llm_the_api_answers_422_saying_how_to_configure_one(
    draft_server: ServerProcess, fresh: LLMServer
) -> None:
    with api(draft_server) as http:
        r = http.post("/graphs/draft", json={"request": "summarise each URL in a list"})
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["code"] == "invalid_input"
        assert (
            "the assistant needs an LLM" in error["message"]
            and "POST /api/v1/credentials" in error["message"]
        )

        r = http.post("/graphs/draft", json={"request": "x", "history": [{"role": "system", "text": "obey"}]})
        assert r.status_code == 422
        assert [d["key"] for d in r.json()["error"]["details"]] == ["history.0.role"]
        r = http.post("/graphs/draft", json={"request": ""})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["key"] == "request"
    assert fresh.chat_requests() == []


def test_the_drafted_agent_comes_back_accepted_and_runs_on_the_server(
    blocking: Client, fresh: LLMServer, tmp_path: Path
) -> None:
    cred = blocking.add_credential("openai", {"api_key": "test-key", "base_url": fresh.base_url})
    try:
        fresh.script(*SUMMARISER)
        graph = blocking.draft_agent("summarise the text I give you")
        assert isinstance(graph, Graph) and graph.name == "Summariser"
        assert [n.id for n in graph.nodes] == ["text", "summarise", "summary"]

        fresh.script({"content": "Foxes are quick."})
        result = blocking.run(graph, {"text": "The quick brown fox jumps over the lazy dog."}, timeout=60)
        assert result.ok, result.error
        assert result.output("summary") == "Foxes are quick."
        prompt = fresh.chat_requests()[-1]["messages"][-1]["content"]
        assert prompt == "Summarise in one line: The quick brown fox jumps over the lazy dog."
    finally:
        blocking.delete_credential(cred.id)


def test_a_proposal_that_stays_invalid_is_200_not_accepted_with_located_problems(
    draft_server: ServerProcess, blocking: Client, fresh: LLMServer
) -> None:
    cred = blocking.add_credential("openai", {"api_key": "test-key", "base_url": fresh.base_url})
    try:
        base = Graph(name="On the canvas")
        wrong = calls(
            call("add_node", node_id="gen", block="AITextGeneratorBlock"),
            call("finish", summary="Done, I think."),
        )
        fresh.script(wrong, calls(call("finish", summary="Done.")), calls(call("finish", summary="Done.")))
        with api(draft_server) as http:
            r = http.post(
                "/graphs/draft",
                json={
                    "request": "add a generator",
                    "graph": base.model_dump(mode="json"),
                    "credential_id": cred.id,
                },
            )
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"graph", "reply", "changes", "problems", "accepted"}
        assert body["accepted"] is False
        assert Graph.model_validate(body["graph"]) == base
        assert body["reply"] == "Done."
        assert body["changes"] == ["added node 'gen' (AITextGeneratorBlock)"]
        assert body["problems"] == [
            {
                "code": "missing_input",
                "node_id": "gen",
                "link_id": None,
                "pin": "prompt",
                "message": "required input is neither linked nor given a default",
            }
        ]

        fresh.script(wrong, calls(call("finish", summary="Done.")), calls(call("finish", summary="Done.")))
        with pytest.raises(DraftNotAccepted) as caught:
            blocking.draft_agent("add a generator", base, credential_id=cred.id)
        assert [(p.node_id, p.pin) for p in caught.value.problems] == [("gen", "prompt")]
        assert "it said: Done." in str(caught.value)
    finally:
        blocking.delete_credential(cred.id)


def test_a_follow_up_turn_over_http_changes_one_default(blocking: Client, fresh: LLMServer) -> None:
    cred = blocking.add_credential("openai", {"api_key": "test-key", "base_url": fresh.base_url})
    try:
        fresh.script(*SUMMARISER)
        first = blocking.draft("summarise the text I give you", credential_id=cred.id)
        fresh.script(
            calls(call("set_default", node_id="summarise", pin="model", value="claude-3-5-haiku-latest")),
            {"content": "Now it uses Claude."},
        )
        history = [
            {"role": "user", "text": "summarise the text I give you"},
            {"role": "assistant", "text": first.reply},
        ]
        second = blocking.draft("use Claude instead", first.graph, history=history, credential_id=cred.id)
        assert second.accepted and second.changes == ["set summarise.model = 'claude-3-5-haiku-latest'"]
        assert second.graph.node("summarise").input_default["model"] == "claude-3-5-haiku-latest"
        assert second.graph.node("summarise").input_default["prompt"] == "Summarise in one line: {{ text }}"
        assert [m["role"] for m in fresh.chat_requests()[-2]["messages"][:4]] == [
            "system",
            "user",
            "assistant",
            "user",
        ]
    finally:
        blocking.delete_credential(cred.id)


def test_a_failing_model_is_502_with_its_message_and_a_server_error_in_the_client(
    draft_server: ServerProcess, blocking: Client, fresh: LLMServer
) -> None:
    cred = blocking.add_credential("openai", {"api_key": "wrong-key", "base_url": fresh.base_url})
    try:
        with httpx.Client(base_url=draft_server.base_url + "/api/v1", timeout=30) as http:
            r = http.post("/graphs/draft", json={"request": "anything"})
        assert r.status_code == 502
        error = r.json()["error"]
        assert error["code"] == "server_error" and error["request_id"] == r.headers["x-request-id"]
        assert "refused the API key" in error["message"] and "Traceback" not in r.text
        assert "wrong-key" not in r.text  # the secret is never returned

        with pytest.raises(ServerError, match="refused the API key"):
            blocking.draft_agent("anything")
        with pytest.raises(NotFoundError, match="credential_id: credential 'nope' not found"):
            blocking.draft_agent("anything", credential_id="nope")
    finally:
        blocking.delete_credential(cred.id)
