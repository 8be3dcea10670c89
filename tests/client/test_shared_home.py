"""A notebook kernel and ``make run``'s server share one data folder: one embedded PostgreSQL serves
both (pgserver reuses the running postmaster), and each sees what the other made."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.client.conftest import greeter
from tests.support.servers import ServerProcess
from workbench.client import LocalClient


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
