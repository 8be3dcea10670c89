"""The remote transport against a real server gives what the local one gives for the same graphs."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import greeter
from tests.support.servers import ServerProcess
from workbench import block
from workbench.client import RemoteBlockError, RemoteClient
from workbench.client.base import AsyncClient
from workbench.errors import AuthError, ConflictError, GraphValidationError, InputError, NotFoundError
from workbench.graph.builder import GraphBuilder
from workbench.runtime.events import EventType
from workbench.services.executions import ExecutionResult

ROOT = Path(__file__).resolve().parents[2]


def summary(result: ExecutionResult) -> dict[str, Any]:
    nodes = sorted((n.node_id, n.status, str(n.outputs)) for n in result.node_executions)
    timed = all(
        isinstance(n.started_at, datetime) and n.ended_at is not None and n.ended_at >= n.started_at
        for n in result.node_executions
    )
    return {
        "status": str(result.status),
        "outputs": result.outputs,
        "error": result.error,
        "nodes": nodes,
        "timed": timed,
    }


async def test_same_graphs_same_results(clients: tuple[AsyncClient, AsyncClient]) -> None:
    results = []
    for client in clients:
        hello = await client.run(ROOT / "examples" / "hello_agent.json", {"name": "Ada"})
        long = await client.run(greeter(), {"name": "Grace"})
        short = await client.run(greeter(), {"name": "Bo"})
        stored = await client.execution(short.execution_id)
        listed = await client.executions(greeter().graph.id)
        results.append([summary(hello), summary(long), summary(short), summary(stored), len(listed)])
    local, remote = results
    assert local == remote
    assert local[1]["outputs"] == {"greeting": ["Hello, Grace!"], "kind": ["long"]}
    assert local[2]["outputs"] == {"greeting": ["Hello, Bo!"], "kind": ["short"]}
    assert local[4] == 2 and local[1]["timed"]


async def test_same_events(clients: tuple[AsyncClient, AsyncClient]) -> None:
    seen = []
    for client in clients:
        events = [e async for e in client.events(greeter(), {"name": "Ada"})]
        assert events[0].type == EventType.EXECUTION_STARTED
        assert events[-1].type == EventType.EXECUTION_COMPLETED
        assert events[-1].data["outputs"] == {"greeting": ["Hello, Ada!"], "kind": ["short"]}
        executed = sorted(e.node_id for e in events if e.type == EventType.NODE_EXECUTED)
        seen.append((executed, len({e.execution_id for e in events})))
    assert seen[0] == seen[1]
    assert seen[0][1] == 1


async def test_same_graph_management(clients: tuple[AsyncClient, AsyncClient]) -> None:
    outcomes = []
    for client in clients:
        g = greeter("5a0c2d8e-1f53-4f7e-8a3e-9f1c5e7b2d40")
        first = await client.save_graph(g)
        again = await client.save_graph(g)  # unchanged: no new version
        g.graph.name = "Greeter v2"
        second = await client.save_graph(g)
        exported = await client.export_graph(first.id)
        # The export holds the id and the active version's content: creating it again gives that.
        assert (await client.create_graph(exported)).version == second.version
        back = await client.update_graph(first.id, exported)  # imported again as a new version
        loaded = await client.load_graph(first.id, version=1)
        listed = [i for i in await client.graphs("Greeter v2") if i.id == first.id]
        await client.delete_graph(first.id)
        with pytest.raises(NotFoundError):
            await client.load_graph(first.id)
        outcomes.append(
            (
                first.version,
                again.version,
                second.version,
                back.version,
                loaded.name,
                len(listed),
                exported["name"],
            )
        )
    assert outcomes[0] == outcomes[1] == (1, 1, 2, 3, "Greeter", 1, "Greeter v2")


async def test_same_errors(clients: tuple[AsyncClient, AsyncClient]) -> None:
    messages = []
    for client in clients:
        with pytest.raises(InputError) as missing:
            await client.run(greeter(), {"nickname": "Ada"})
        broken = greeter("7e3d1c2b-2a4f-4b6e-8c1d-0f9e8d7c6b50")
        broken.graph.links[0].sink_name = "nope"
        with pytest.raises(GraphValidationError) as invalid:
            await client.create_graph(broken.graph)
        with pytest.raises(NotFoundError):
            await client.execution("00000000-0000-4000-8000-000000000000")
        messages.append(
            (str(missing.value).split("; ")[0], sorted(p.node_id or "" for p in invalid.value.problems))
        )
    assert messages[0] == messages[1]
    assert "unknown input(s) 'nickname'" in messages[0][0]


async def test_same_schedules_and_credentials(clients: tuple[AsyncClient, AsyncClient]) -> None:
    shapes = []
    for client in clients:
        graph = await client.save_graph(greeter())
        schedule = await client.create_schedule(
            graph.id, "INTERVAL", interval_seconds=3600, inputs={"name": "Ada"}
        )
        paused = await client.pause_schedule(schedule.id)
        resumed = await client.resume_schedule(schedule.id)
        changed = await client.update_schedule(schedule.id, interval_seconds=7200)
        assert [s.id for s in await client.schedules(graph.id)] == [schedule.id]
        assert await client.schedule_runs(schedule.id) == []
        await client.delete_schedule(schedule.id)
        credential = await client.add_credential("openai", {"api_key": "sk-secret"}, title="mine")
        listed = await client.credentials("openai")
        await client.delete_credential(credential.id)
        shapes.append(
            (
                schedule.status,
                len(schedule.next_runs),
                paused.status,
                resumed.status,
                changed.timing["interval_seconds"],
                [(c.provider, c.type, c.title) for c in listed],
                await client.credentials("openai"),
            )
        )
    assert (
        shapes[0] == shapes[1] == ("active", 5, "paused", "active", 7200, [("openai", "api_key", "mine")], [])
    )


async def test_blocks_are_the_same_catalogue(clients: tuple[AsyncClient, AsyncClient]) -> None:
    local, remote = clients
    local_names = {b.name for b in await local.blocks(category="TEXT")}
    remote_names = {b.name for b in await remote.blocks(category="TEXT")}
    assert "FillTextTemplateBlock" in local_names and local_names == remote_names
    assert await local.block("FillTextTemplateBlock") == await remote.block("FillTextTemplateBlock")


async def test_notebook_blocks_do_not_run_remotely(clients: tuple[AsyncClient, AsyncClient]) -> None:
    @block
    async def whisper(text: str) -> str:
        """Lower-case a text."""
        return text.lower()

    g = GraphBuilder("Whisperer")
    text = g.input("text")
    node = g.add(whisper)
    text.result >> node.text
    node.result >> g.output("quiet").value
    local, remote = clients
    assert (await local.run(g, {"text": "HEY"})).outputs == {"quiet": ["hey"]}
    with pytest.raises(RemoteBlockError) as refused:
        await remote.run(g, {"text": "HEY"})
    message = str(refused.value)
    assert "'whisper' (node 'whisper_1', defined in this notebook/process)" in message
    assert "does not run notebook code" in message and "workbench.blocks" in message
    assert "Whisperer" not in [g.name for g in await remote.graphs()]  # nothing was sent


async def test_a_wrong_api_key_is_refused_clearly(key_server: ServerProcess) -> None:
    with pytest.raises(AuthError):
        await RemoteClient(key_server.base_url, api_key="wbk_not_a_real_key").start()
    with pytest.raises(InputError, match="must start with http"):
        RemoteClient("localhost:8006")


async def test_create_refuses_an_existing_id_and_save_makes_versions(
    clients: tuple[AsyncClient, AsyncClient],
) -> None:
    """Both transports: creating the same graph again gives the stored one, creating a changed graph
    under an existing id is a conflict naming PUT; saving makes a version only when the graph
    changed; updating always does."""
    for client in clients:
        graph = greeter(str(uuid.uuid4())).graph
        created = await client.create_graph(graph)
        assert created.version == 1
        assert (await client.create_graph(graph)).version == 1  # the same file posted twice
        changed = graph.model_copy(update={"name": "Greeter, changed"})
        with pytest.raises(ConflictError, match=f"PUT /api/v1/graphs/{graph.id}"):
            await client.create_graph(changed)
        assert (await client.save_graph(graph)).version == 1  # unchanged: nothing stored
        renamed = graph.model_copy(update={"name": "Greeter, renamed"})
        assert (await client.save_graph(renamed)).version == 2
        assert (await client.update_graph(graph.id, graph)).version == 3
        await client.delete_graph(graph.id)


async def test_a_nul_character_in_an_input_is_refused_alike(clients: tuple[AsyncClient, AsyncClient]) -> None:
    messages = []
    for client in clients:
        with pytest.raises(InputError) as refused:
            await client.run(greeter(), {"name": "A\x00da"})
        messages.append(str(refused.value))
    assert (
        messages[0]
        == messages[1]
        == ("inputs.name: contains a NUL character (U+0000), which cannot be stored")
    )


def waiting(seconds: int, graph_id: str | None = None) -> GraphBuilder:
    """A graph that waits ``seconds`` (a built-in block, so the server has it too)."""
    g = GraphBuilder("Waits", graph_id=graph_id or str(uuid.uuid4()))
    timer = g.add("CountdownTimerBlock", seconds=seconds, input_message="done")
    timer.output_message >> g.output("message").value
    return g


async def test_same_rules_for_deleting_while_runs_go_on(clients: tuple[AsyncClient, AsyncClient]) -> None:
    """A graph with a queued or running run, and the run itself, cannot be deleted until it ends;
    then both can. The rule lives in the services, so both transports agree."""
    outcomes = []
    for client in clients:
        graph = await client.save_graph(waiting(30))
        execution_id = await client.submit(graph.id)
        steps: list[str] = []
        with pytest.raises(ConflictError, match="cancel") as refused:
            await client.delete_graph(graph.id)
        steps.append(type(refused.value).__name__)
        with pytest.raises(ConflictError, match="cancel it first"):
            await client.delete_execution(execution_id)
        assert (await client.load_graph(graph.id)).id == graph.id  # nothing was deleted
        await client.cancel(execution_id)
        ended = await client.wait(execution_id, timeout=10)
        steps.append(str(ended.status))
        await client.delete_execution(execution_id)
        with pytest.raises(NotFoundError):
            await client.execution(execution_id)
        await client.delete_graph(graph.id)
        with pytest.raises(NotFoundError):
            await client.load_graph(graph.id)
        outcomes.append(steps)
    assert outcomes[0] == outcomes[1] == ["ConflictError", "CANCELLED"]


async def test_same_rule_for_credentials_a_run_names(clients: tuple[AsyncClient, AsyncClient]) -> None:
    """A run (or a single block) may name only the caller's own credentials."""
    messages = []
    for client in clients:
        graph = await client.save_graph(greeter())
        missing = str(uuid.uuid4())
        with pytest.raises(NotFoundError, match=f"credentials.openai: credential {missing} not found"):
            await client.submit(graph.id, {"name": "Ada"}, credentials={"openai": missing})
        with pytest.raises(NotFoundError, match="credential 'not-an-id' not found"):
            await client.submit(graph.id, {"name": "Ada"}, credentials={"openai": "not-an-id"})
        with pytest.raises(NotFoundError, match="not found"):
            await client.run_block("FillTextTemplateBlock", {"format": "x"}, credentials={"openai": missing})
        mine = await client.add_credential("openai", {"api_key": "sk-secret"})
        done = await client.run(graph.id, {"name": "Ada"}, credentials={"openai": mine.id})
        messages.append((str(done.status), done.outputs["greeting"]))
        await client.delete_credential(mine.id)
    assert messages[0] == messages[1] == ("COMPLETED", ["Hello, Ada!"])


async def test_same_single_block_runs(clients: tuple[AsyncClient, AsyncClient]) -> None:
    results = []
    for client in clients:
        done = await client.run_block(
            "FillTextTemplateBlock", {"format": "Hi, {{ name }}!", "values": {"name": "Ada"}}
        )
        failed = await client.run_block("CountdownTimerBlock", {"seconds": "soon"})
        with pytest.raises(InputError, match="format"):
            await client.run_block("FillTextTemplateBlock", {"values": {}})  # a required input missing
        with pytest.raises(InputError, match="runs only inside a graph"):
            await client.run_block("AgentExecutorBlock", {})
        with pytest.raises(NotFoundError):
            await client.run_block("NoSuchBlock", {})
        results.append((done.outputs, done.error, failed.ok, failed.error is not None))
    assert results[0] == results[1]
    assert results[0][:2] == ([("output", "Hi, Ada!")], None) and results[0][2:] == (False, True)
