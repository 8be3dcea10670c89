"""The drafting assistant against the local OpenAI-compatible server: a scripted model builds an agent
through the tools, is told the validator's message when it names a block or pin that does not
exist, is not accepted while its graph stays invalid, and changes one default in a follow-up turn."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.openai_server import LLMServer
from workbench.app import Workbench
from workbench.drafting import AgentDrafter, AssistantFailed, AssistantNotConfigured, Proposal
from workbench.drafting.catalogue import search
from workbench.errors import InputError, NotFoundError

pytestmark = pytest.mark.usefixtures("loopback_allowed")  # the local LLM server is on 127.0.0.1

ENV_KEYS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "WORKBENCH_LLM_BASE_URL",
    "WORKBENCH_LLM_API_KEY",
    "WORKBENCH_LLM_PROVIDER",
    "WORKBENCH_LLM_MODEL",
)


def call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    """One scripted tool call."""
    return {"name": tool, "arguments": arguments}


def calls(*items: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    """A scripted model answer made of tool calls."""
    return {"tool_calls": list(items), "content": content}


def tool_results(body: dict[str, Any]) -> list[str]:
    """The tool messages of a recorded chat request, in order."""
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


SUMMARISER = [
    calls(call("search_blocks", query="AI text generator")),
    calls(
        call("add_node", node_id="text", block="AgentInputBlock", defaults={"name": "text"}),
        call(
            "add_node",
            node_id="summarise",
            block="AITextGeneratorBlock",
            defaults={"prompt": "Summarise in one line: {{ text }}"},
        ),
        call("add_node", node_id="summary", block="AgentOutputBlock", defaults={"name": "summary"}),
        call(
            "link",
            source_node="text",
            source_pin="result",
            sink_node="summarise",
            sink_pin="prompt_values_#_text",
        ),
        call("link", source_node="summarise", source_pin="response", sink_node="summary", sink_pin="value"),
        call("set_default", node_id="summarise", pin="model", value="gpt-4o-mini"),
        call("set_name", name="Summariser", description="Summarises a text in one line."),
    ),
    calls(call("finish", summary="An input, a text generator and an output: it summarises your text.")),
]
"""A model that searches, adds input -> text generator -> output, links them, sets defaults, finishes."""


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm.reset()
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
async def user(wb: Workbench) -> AsyncIterator[str]:
    """A user of their own (their credentials are theirs alone)."""
    assert wb.db is not None
    user_id = str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email, name) VALUES ($1, 'Drafter') RETURNING id",
            f"drafter-{uuid.uuid4().hex[:10]}@example.com",
        )
    )
    yield user_id
    await wb.db.pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(user_id))


@pytest.fixture(scope="module")
async def cred(wb: Workbench, llm: LLMServer, user: str) -> AsyncIterator[str]:
    """The user's one LLM credential: the local server, with a model named in its secret."""
    assert wb.credentials is not None
    meta = await wb.credentials.create(
        user, "openai", "api_key", {"api_key": "test-key", "base_url": llm.base_url, "model": "local-model"}
    )
    yield meta.id
    await wb.credentials.delete(user, meta.id)


async def test_a_scripted_model_builds_an_agent_the_graph_service_accepts(
    wb: Workbench, llm: LLMServer, user: str, cred: str
) -> None:
    llm.script(*SUMMARISER)
    proposal = await AgentDrafter(wb).propose(user, "summarise the text I give you")  # the only credential

    assert proposal.accepted, proposal.problems
    assert proposal.problems == []
    assert proposal.reply == "An input, a text generator and an output: it summarises your text."
    assert proposal.changes == [
        "added node 'text' (AgentInputBlock)",
        "added node 'summarise' (AITextGeneratorBlock)",
        "added node 'summary' (AgentOutputBlock)",
        "linked text.result → summarise.prompt_values_#_text",
        "linked summarise.response → summary.value",
        "set summarise.model = 'gpt-4o-mini'",
        "named the agent 'Summariser'",
    ]
    graph = proposal.graph
    assert graph.name == "Summariser"
    assert await wb.graphs.problems(graph, user) == []
    xs = [n.metadata["position"]["x"] for n in graph.nodes]
    assert xs == sorted(xs) and len(set(xs)) == 3  # left to right, one column each

    bodies = llm.chat_requests()
    assert len(bodies) == 3
    assert all(b["model"] == "local-model" for b in bodies)  # the credential's model
    assert {t["function"]["name"] for t in bodies[0]["tools"]} >= {
        "search_blocks",
        "add_node",
        "link",
        "finish",
    }
    system = bodies[0]["messages"][0]["content"]
    assert "AgentInputBlock" in system and "AgentOutputBlock" in system
    assert len(system) < 2000  # the catalogue comes through search_blocks, not the prompt
    found = json.loads(tool_results(bodies[1])[0])  # the search's answer, from the real registry
    generator = next(b for b in found if b["name"] == "AITextGeneratorBlock")
    assert {"name": "prompt", "type": "str", "required": True} in generator["inputs"]
    assert "response" in [o["name"] for o in generator["outputs"]]
    assert bodies[0]["messages"][-1]["content"].endswith("summarise the text I give you")


async def test_an_unknown_block_then_an_unknown_pin_come_back_as_the_validators_message(
    wb: Workbench, llm: LLMServer, user: str, cred: str
) -> None:
    llm.script(
        calls(call("add_node", node_id="mail", block="SendEmailViaCarrierPigeonBlock")),
        calls(call("add_node", node_id="text", block="AgentInputBlock", defaults={"name": "text"})),
        calls(
            call(
                "add_node", node_id="out", block="AgentOutputBlock", defaults={"name": "out", "colour": "red"}
            )
        ),
        calls(call("add_node", node_id="out", block="AgentOutputBlock", defaults={"name": "out"})),
        calls(call("link", source_node="text", source_pin="resultt", sink_node="out", sink_pin="value")),
        calls(call("link", source_node="text", source_pin="result", sink_node="out", sink_pin="value")),
        calls(call("finish", summary="Echoes the text.")),
    )
    proposal = await AgentDrafter(wb).propose(user, "echo my text", credential_id=cred)

    results = [tool_results(b) for b in llm.chat_requests()]
    unknown_block = results[1][-1]
    assert unknown_block.startswith("error: node 'mail': unknown block 'SendEmailViaCarrierPigeonBlock'")
    assert "search_blocks" in unknown_block
    unknown_default = results[3][-1]
    assert "unknown input pin 'colour' of AgentOutputBlock; valid:" in unknown_default
    assert "format" in unknown_default  # the valid pins are listed
    unknown_output = results[5][-1]
    assert unknown_output.startswith(
        "error: link from text.resultt to out.value: unknown output pin 'resultt'"
    )
    assert "valid: error, result" in unknown_output
    assert results[6][-1] == "linked from text.result to out.value"
    assert proposal.accepted
    assert [n.id for n in proposal.graph.nodes] == ["text", "out"]  # refused calls changed nothing


async def test_a_model_that_never_fixes_its_graph_is_not_accepted_and_the_canvas_keeps_its_graph(
    wb: Workbench, llm: LLMServer, user: str, cred: str
) -> None:
    base = (await _canvas(wb, llm, user, cred)).graph
    llm.reset()
    stubborn = calls(
        call("add_node", node_id="gen", block="AITextGeneratorBlock"),  # its prompt is never given
        call("finish", summary="Added a generator."),
    )
    again = calls(call("finish", summary="It is fine as it is."))
    llm.script(stubborn, again, again, again)
    proposal = await AgentDrafter(wb).propose(user, "add a generator", base=base, credential_id=cred)

    assert not proposal.accepted
    assert proposal.graph == base
    assert proposal.reply == "It is fine as it is."
    assert [(p.node_id, p.pin, p.code) for p in proposal.problems] == [("gen", "prompt", "missing_input")]
    assert proposal.changes == ["added node 'gen' (AITextGeneratorBlock)"]
    bodies = llm.chat_requests()
    assert len(bodies) == 3  # the first answer, then the problems went back twice (MAX_FIXES)
    told = tool_results(bodies[1])[-1]
    assert told.startswith("error: the graph is not valid yet")
    assert "node 'gen', pin 'prompt': required input is neither linked nor given a default" in told


async def test_a_follow_up_turn_changes_one_default_of_the_base_graph(
    wb: Workbench, llm: LLMServer, user: str, cred: str
) -> None:
    first = await _canvas(wb, llm, user, cred)
    llm.reset()
    llm.script(
        calls(call("set_default", node_id="summarise", pin="model", value="claude-3-5-haiku-latest")),
        {"content": "Now it uses Claude."},
    )
    history = [
        {"role": "user", "text": "summarise the text I give you"},
        {"role": "assistant", "text": first.reply},
    ]
    proposal = await AgentDrafter(wb).propose(
        user, "use Claude instead", base=first.graph, history=history, credential_id=cred
    )

    assert proposal.accepted
    assert proposal.reply == "Now it uses Claude."
    assert proposal.changes == ["set summarise.model = 'claude-3-5-haiku-latest'"]
    before = {n.id: n.input_default for n in first.graph.nodes}
    after = {n.id: n.input_default for n in proposal.graph.nodes}
    assert after["summarise"] == {**before["summarise"], "model": "claude-3-5-haiku-latest"}
    assert {k: v for k, v in after.items() if k != "summarise"} == {
        k: v for k, v in before.items() if k != "summarise"
    }
    assert proposal.graph.links == first.graph.links and proposal.graph.id == first.graph.id
    sent = llm.chat_requests()[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == first.reply
    canvas = sent[3]["content"]
    assert '"id": "summarise"' in canvas and "use Claude instead" in canvas


async def test_bad_requests_are_refused_saying_what_and_where(
    wb: Workbench, llm: LLMServer, user: str, cred: str
) -> None:
    drafter = AgentDrafter(wb)
    with pytest.raises(InputError, match="request: say what the agent should do"):
        await drafter.propose(user, "  ")
    with pytest.raises(InputError, match=r"history\[1\]\.role: must be 'user' or 'assistant'"):
        await drafter.propose(
            user, "x", history=[{"role": "user", "text": "a"}, {"role": "system", "text": "b"}]
        )
    with pytest.raises(NotFoundError, match="credential_id: credential 'nope' not found"):
        await drafter.propose(user, "x", credential_id="nope")
    with pytest.raises(NotFoundError, match="credential_id"):
        await drafter.propose(user, "x", credential_id=str(uuid.uuid4()))  # not theirs
    assert llm.chat_requests() == []


async def test_without_any_llm_it_says_how_to_configure_one(wb: Workbench, llm: LLMServer) -> None:
    assert wb.db is not None
    nobody = str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email) VALUES ($1) RETURNING id", f"nollm-{uuid.uuid4().hex[:10]}@example.com"
        )
    )
    with pytest.raises(AssistantNotConfigured, match="POST /api/v1/credentials") as caught:
        await AgentDrafter(wb).propose(nobody, "anything")
    assert caught.value.http_status == 422


async def test_the_environments_provider_serves_a_user_without_credentials(
    wb: Workbench, llm: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert wb.db is not None
    plain = str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email) VALUES ($1) RETURNING id", f"env-{uuid.uuid4().hex[:10]}@example.com"
        )
    )
    monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", llm.base_url)
    monkeypatch.setenv("WORKBENCH_LLM_API_KEY", "test-key")
    llm.script({"content": "What should the agent do with the text?"})
    proposal = await AgentDrafter(wb).propose(plain, "hello", model="env-model")
    assert proposal.accepted and proposal.changes == [] and proposal.graph.nodes == []
    assert proposal.reply == "What should the agent do with the text?"
    assert llm.chat_requests()[0]["model"] == "env-model"


async def test_a_failing_provider_is_an_assistant_failure_with_its_message(
    wb: Workbench, llm: LLMServer, user: str, cred: str
) -> None:
    llm.script({"status": 400, "message": "model 'local-model' is not loaded"})
    with pytest.raises(AssistantFailed, match="model 'local-model' is not loaded") as caught:
        await AgentDrafter(wb).propose(user, "anything", credential_id=cred)
    assert caught.value.http_status == 502


def test_search_finds_blocks_of_the_real_registry_by_their_words(wb: Workbench) -> None:
    assert search(wb.registry, "send web request")[0]["name"] == "SendWebRequestBlock"
    assert search(wb.registry, "summarise")[0]["name"] == "AITextSummarizerBlock"
    assert search(wb.registry, "llm text generator")[0]["name"] == "AITextGeneratorBlock"
    assert search(wb.registry, "the of and") == []


async def _canvas(wb: Workbench, llm: LLMServer, user: str, cred: str) -> Proposal:
    """The summariser of the first test, as the graph on the canvas."""
    llm.script(*SUMMARISER)
    proposal = await AgentDrafter(wb).propose(user, "summarise the text I give you", credential_id=cred)
    assert proposal.accepted
    return proposal


async def test_the_local_client_drafts_and_runs_the_agent(
    tmp_path: Any, llm: LLMServer, registry: Any, settings: Any
) -> None:
    from workbench.client import LocalClient

    allowed = settings.with_(home=tmp_path / "home", http_allow=("127.0.0.0/8",))
    async with LocalClient(settings=allowed, registry=registry) as client:
        cred = await client.add_credential("openai", {"api_key": "test-key", "base_url": llm.base_url})
        llm.script(*SUMMARISER)
        graph = await client.draft_agent("summarise the text I give you", credential_id=cred.id)
        llm.script({"content": "A fox jumps."})
        result = await client.run(graph, {"text": "The quick brown fox jumps over the lazy dog."}, timeout=60)
        assert result.ok, result.error
        assert result.output("summary") == "A fox jumps."
        stored = await client.load_graph(result.graph_id)
        assert [n.id for n in stored.nodes] == ["text", "summarise", "summary"]


def test_tool_calls_are_checked_before_anything_is_applied(wb: Workbench) -> None:
    from workbench.drafting.board import DraftBoard
    from workbench.drafting.tools import apply
    from workbench.graph.model import Graph

    board = DraftBoard(Graph(), wb.registry)
    said = apply(board, wb.registry, "add_node", '{"node_id": "a\\u0000b", "block": "AgentInputBlock"}')
    assert said == "error: arguments.node_id: must not contain NUL characters"
    assert apply(board, wb.registry, "add_node", "{not json").startswith(
        "error: the arguments are not valid JSON"
    )
    assert apply(board, wb.registry, "run_shell", "{}").startswith(
        "error: there is no tool 'run_shell'; tools:"
    )
    assert (
        apply(board, wb.registry, "link", '{"source_node": "x"}') == "error: source_pin: a string is required"
    )
    said = apply(board, wb.registry, "set_default", '{"node_id": "ghost", "pin": "name", "value": 1}')
    assert said == "error: node 'ghost' does not exist (nodes: none yet)"
    said = apply(board, wb.registry, "add_node", '{"node_id": "n", "block": "AgentNumberInputBlock"}')
    assert said == "added node 'n' (AgentNumberInputBlock)"
    said = apply(board, wb.registry, "set_default", '{"node_id": "n", "pin": "value", "value": "many"}')
    assert said.startswith("error: node 'n', pin 'value': default has the wrong type")
    assert board.graph.nodes[0].input_default == {}
    assert board.changes == ["added node 'n' (AgentNumberInputBlock)"]
