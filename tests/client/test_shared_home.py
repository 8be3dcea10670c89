"""A notebook kernel and ``make run``'s server share one data folder: one embedded PostgreSQL serves
both (pgserver reuses the running postmaster), and each sees what the other made."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.client.conftest import greeter
from tests.support.servers import ServerProcess
from workbench.block.decorator import block
from workbench.client import LocalClient, RemoteClient
from workbench.errors import GraphValidationError
from workbench.graph.builder import GraphBuilder


async def test_notebook_and_server_share_one_database(home_server: ServerProcess, shared_home: Path) -> None:
    local = await LocalClient(shared_home).start()
    http = home_server.client()
    try:
        pgdata = shared_home / "pgdata"
        handles = json.loads((pgdata / ".handle_pids.json").read_text())
        assert os.getpid() in handles and home_server.process.pid in handles  # one server, two users
        assert len(list(pgdata.glob("postmaster.pid"))) == 1

        saved = await local.save_graph(greeter("3c9e7b1a-5d2f-4e8a-9b6c-7a1d0e2f3b40"))
        r = http.get(f"/api/v1/graphs/{saved.id}")  # made in the notebook, seen by the server
        assert r.status_code == 200 and r.json()["name"] == "Greeter"

        mine = await local.run(saved.id, {"name": "Ada"})
        r = http.get(f"/api/v1/executions/{mine.execution_id}")
        assert r.json()["status"] == "COMPLETED"
        assert r.json()["outputs"] == {"greeting": ["Hello, Ada!"], "kind": ["short"]}
        assert len(r.json()["node_executions"]) == len(mine.node_executions)

        r = http.post(f"/api/v1/graphs/{saved.id}/execute?wait=10", json={"inputs": {"name": "Grace"}})
        theirs = await local.execution(r.json()["id"])  # run by the server, seen in the notebook
        assert theirs.outputs == {"greeting": ["Hello, Grace!"], "kind": ["long"]}
        assert {e.execution_id for e in await local.executions(saved.id)} == {
            mine.execution_id,
            theirs.execution_id,
        }
    finally:
        await local.close()
    # The notebook leaving does not stop the database under the server.
    r = http.post(f"/api/v1/graphs/{saved.id}/execute?wait=10", json={"inputs": {"name": "Bo"}})
    assert r.status_code == 200 and r.json()["outputs"]["greeting"] == ["Hello, Bo!"]
    http.close()


async def test_a_graph_with_a_notebook_block_names_the_node_when_the_server_runs_it(
    home_server: ServerProcess, shared_home: Path
) -> None:
    """The notebook saves a graph using its own block to the shared database; the server, which
    does not have that block, says which node uses it and why, rather than "unknown block id"."""

    @block
    async def murmur(text: str) -> str:
        """Lower-case a text."""
        return text.lower()

    g = GraphBuilder("Murmurer", graph_id="6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b")
    text = g.input("text")
    node = g.add(murmur)
    text.result >> node.text
    node.result >> g.output("quiet").value
    local = await LocalClient(shared_home).start()
    http = home_server.client()
    try:
        saved = await local.save_graph(g)
        assert (await local.run(saved.id, {"text": "HEY"})).outputs == {"quiet": ["hey"]}
        r = http.post(f"/api/v1/graphs/{saved.id}/execute?wait=5", json={"inputs": {"text": "HEY"}})
        assert r.status_code == 422, r.text
        [problem] = r.json()["error"]["problems"]
        assert problem["node_id"] == "murmur_1" and problem["code"] == "unknown_block"
        assert "no block with this id is installed here" in problem["message"]
        assert "defined in a notebook" in problem["message"]
        remote = await RemoteClient(home_server.base_url).start()
        try:
            with pytest.raises(GraphValidationError) as refused:
                await remote.run(saved.id, {"text": "HEY"})
        finally:
            await remote.close()
        assert "node 'murmur_1': unknown block" in str(refused.value)
    finally:
        http.close()
        await local.close()
