"""Sub-graph runs are bounded (issue 10, finding 8): how deep they nest (WORKBENCH_MAX_SUBGRAPH_DEPTH)
and how many one top-level execution starts in all (WORKBENCH_MAX_CHILD_RUNS), in every run mode, and
on a real server process attacked as the probe did (a graph that runs itself; a wide fan-out)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.logic import StepThroughItemsBlock
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.server.api_support import User, create_graph, database_fetch, signup
from tests.support.blocks import SleepBlock
from tests.support.operator_server import MAX_CHILD_RUNS, operator_server
from tests.support.servers import ServerProcess
from workbench.app import Workbench
from workbench.graph.model import Graph
from workbench.store.run_limits import subgraph_runs, take_subgraph_run

RUN_TIMEOUT = 20
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"


@pytest.fixture
def limits(bench: Workbench) -> Iterator[Callable[..., None]]:
    """Change the executor's limits for one test."""
    before = bench.executions.settings

    def change(**settings: int) -> None:
        bench.executions.settings = before.with_(**settings)

    yield change
    bench.executions.settings = before


def self_running() -> Graph:
    """A graph whose agent executor node runs the graph itself, with no end."""
    g = graph([node("again", AgentExecutorBlock, graph_id="", inputs={})], name="runs itself")
    g.nodes[0].input_default["graph_id"] = g.id
    return g


def fan_out(children: int) -> Graph:
    """``children`` items, each running a small sub-graph (included in the graph)."""
    child = graph(
        [node("t", FillTextTemplateBlock, format="child", values={}), out("o", "text")],
        [link("t.output", "o.value")],
    )
    parent = graph(
        [
            inp("items", "items"),
            node("step", StepThroughItemsBlock),
            node("agent", AgentExecutorBlock, graph_id=child.id, graph_version=child.version, inputs={}),
            out("o", "text"),
        ],
        [
            link("items.result", "step.items"),
            link("step.item", "agent.agent_name"),
            link("agent.text", "o.value"),
        ],
        name="fan-out",
    )
    parent.sub_graphs = [child]
    return parent


async def stored_children(bench: Workbench, execution_id: str) -> int | None:
    """How many sub-graph runs are stored under the execution, at every depth (None: ephemeral)."""
    if bench.db is None:
        return None
    return await bench.db.pool.fetchval(
        """WITH RECURSIVE tree AS (
               SELECT id FROM graph_executions WHERE parent_execution_id = $1
               UNION ALL SELECT g.id FROM graph_executions g JOIN tree ON g.parent_execution_id = tree.id)
           SELECT count(*) FROM tree""",
        uuid.UUID(execution_id),
    )


async def test_a_graph_that_runs_itself_stops_at_the_depth_limit(
    bench: Workbench, limits: Callable[..., None]
) -> None:
    limits(max_subgraph_depth=3)
    started = time.monotonic()
    result = await bench.executions.run(self_running(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED"
    assert result.error is not None and result.error.startswith("node 'again' (AgentExecutorBlock) failed: ")
    assert "sub-graph runs may nest 3 levels deep" in result.error
    assert "WORKBENCH_MAX_SUBGRAPH_DEPTH=3" in result.error
    assert result.error.count("WORKBENCH_MAX_SUBGRAPH_DEPTH") == 1  # one clear message, not nested
    assert time.monotonic() - started < 5
    assert await stored_children(bench, result.execution_id) in (None, 3)


async def test_sub_graph_runs_of_one_execution_are_capped(
    bench: Workbench, limits: Callable[..., None]
) -> None:
    limits(max_child_runs=5)
    under = await bench.executions.run(fan_out(4), {"items": list(range(4))}, timeout=RUN_TIMEOUT)
    assert under.status == "COMPLETED", under.error
    assert under.outputs == {"text": ["child"] * 4}

    over = await bench.executions.run(fan_out(12), {"items": list(range(12))}, timeout=RUN_TIMEOUT)
    assert over.status == "FAILED"
    assert over.error is not None and "has started 5 sub-graph runs" in over.error
    assert "WORKBENCH_MAX_CHILD_RUNS=5" in over.error
    if bench.db is not None:
        # Counted before each is created: a child cancelled in between (the run failing) counts too.
        assert 1 <= (await stored_children(bench, over.execution_id) or 0) <= 5
        assert await subgraph_runs(bench.db.pool, over.execution_id) == 5
        assert await subgraph_runs(bench.db.pool, under.execution_id) == 4


async def test_the_stored_count_governs_whoever_runs_the_tree(wb: Workbench) -> None:
    """A resumed run (or another executor) finds the count where the tree left it: here the stored
    count is already at the cap when the agent node starts, so its sub-graph is refused."""
    before = wb.executions.settings
    wb.executions.settings = before.with_(max_child_runs=3)
    try:
        g = fan_out(1)
        g.nodes.append(node("wait", SleepBlock, seconds=0.5, value=[1]))
        g.links = [link("wait.output", "step.items"), *(x for x in g.links if x.sink_id != "step")]
        g.nodes = [n for n in g.nodes if n.id != "items"]
        execution_id = await wb.executions.submit(g, {})
        assert wb.db is not None
        await wb.db.pool.execute(
            "UPDATE graph_executions SET subgraph_runs = 3 WHERE id = $1", uuid.UUID(execution_id)
        )
        result = await wb.executions.wait(execution_id, timeout=RUN_TIMEOUT)
    finally:
        wb.executions.settings = before
    assert result.status == "FAILED" and "WORKBENCH_MAX_CHILD_RUNS=3" in (result.error or "")
    assert await stored_children(wb, execution_id) == 0


async def test_taking_a_sub_graph_run_is_atomic(wb: Workbench) -> None:
    result = await wb.executions.run(graph([node("t", FillTextTemplateBlock, format="x", values={})]), {})
    assert wb.db is not None
    taken = await asyncio.gather(*(take_subgraph_run(wb.db.pool, result.execution_id, 20) for _ in range(30)))
    assert sorted(t for t in taken if t is not None) == list(range(1, 21))
    assert taken.count(None) == 10
    assert await subgraph_runs(wb.db.pool, result.execution_id) == 20


# ---- on a real server, as the probe did ------------------------------------------------------------


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    return operator_server(request.config, tmp_path_factory)


@pytest.fixture(scope="module")
def user(server: ServerProcess) -> Iterator[User]:
    found = signup(server, "recursion")
    yield found
    found.close()


def executions_of(server: ServerProcess, graph_id: str) -> int:
    rows = database_fetch(
        server, "SELECT count(*) AS n FROM graph_executions WHERE graph_id = $1", uuid.UUID(graph_id)
    )
    return rows[0]["n"]


def test_a_graph_running_itself_over_http_ends_at_the_default_depth(
    user: User, server: ServerProcess
) -> None:
    gid = str(uuid.uuid4())
    doc: dict[str, Any] = {
        "id": gid,
        "name": "Ouroboros",
        "nodes": [{"id": "again", "block_id": AgentExecutorBlock.id, "input_default": {"graph_id": gid}}],
    }
    create_graph(user.client, doc)
    started = time.monotonic()
    r = user.client.post(f"/graphs/{gid}/execute", params={"wait": 30}, json={"inputs": {}})
    assert r.status_code == 200, r.text
    run = r.json()
    assert time.monotonic() - started < 10
    assert run["status"] == "FAILED"
    assert (
        "sub-graph runs may nest 8 levels deep" in run["error"]
        and "WORKBENCH_MAX_SUBGRAPH_DEPTH=8" in run["error"]
    )
    assert executions_of(server, gid) == 1 + 8  # the run and one sub-graph run per level


def test_a_wide_fan_out_over_http_ends_at_the_per_execution_cap(user: User, server: ServerProcess) -> None:
    child_id = str(uuid.uuid4())
    child = {
        "id": child_id,
        "name": "Child",
        "nodes": [
            {"id": "in", "block_id": INPUT_BLOCK, "input_default": {"name": "n", "value": 0}},
            {"id": "o", "block_id": OUTPUT_BLOCK, "input_default": {"name": "n"}},
        ],
        "links": [{"source_id": "in", "source_name": "result", "sink_id": "o", "sink_name": "value"}],
    }
    create_graph(user.client, child)
    parent = {
        "name": "Fan-out",
        "nodes": [
            {"id": "step", "block_id": StepThroughItemsBlock.id, "input_default": {"items": list(range(60))}},
            {
                "id": "agent",
                "block_id": AgentExecutorBlock.id,
                "input_default": {"graph_id": child_id, "inputs": {}},
            },
        ],
        "links": [
            {"source_id": "step", "source_name": "item", "sink_id": "agent", "sink_name": "inputs_#_n"}
        ],
    }
    pid = create_graph(user.client, parent)["id"]
    r = user.client.post(f"/graphs/{pid}/execute", params={"wait": 30}, json={"inputs": {}})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "FAILED"
    assert f"has started {MAX_CHILD_RUNS} sub-graph runs" in run["error"]
    assert f"WORKBENCH_MAX_CHILD_RUNS={MAX_CHILD_RUNS}" in run["error"]
    assert 1 <= executions_of(server, child_id) <= MAX_CHILD_RUNS  # of 60 asked for
