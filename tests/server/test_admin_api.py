"""/api/v1/admin/db against a real server: administrators only (403 in the API's error shape for
everyone else, API keys included), a streamed backup that restores, and users' own retention
bounds at /api/v1/executions/retention."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.server.api_support import User, api, create_graph, hello_graph, run_graph, signup
from tests.support.servers import ServerProcess
from workbench.auth import ALL_SCOPES
from workbench.services.dbmanager.tools import find_tool

ROUTES = [
    ("GET", "/admin/db/health"),
    ("POST", "/admin/db/optimize"),
    ("POST", "/admin/db/prune"),
    ("GET", "/admin/db/backup"),
]


def server_database(server: ServerProcess, name: str = "workbench") -> str:
    return f"postgresql://postgres@/{name}?host={server.home / 'pgdata'}"


def test_only_an_administrators_login_may_manage_the_database(
    accounts_server: ServerProcess, admin: User, alice: User
) -> None:
    assert admin.client.get("/auth/me").json()["is_admin"] is True
    assert alice.client.get("/auth/me").json()["is_admin"] is False
    alice_key, _ = alice.key(*sorted(ALL_SCOPES))
    admin_key, _ = admin.key(*sorted(ALL_SCOPES))
    with (
        api(accounts_server, api_key=alice_key) as alice_by_key,
        api(accounts_server, api_key=admin_key) as admin_by_key,
        api(accounts_server) as anonymous,
    ):
        for method, path in ROUTES:
            refused = alice.client.request(method, path)
            assert refused.status_code == 403, (method, path)
            assert refused.json()["error"]["message"] == "managing the database is for administrators only"
            by_key = alice_by_key.request(method, path)
            assert by_key.status_code == 403
            admins_key = admin_by_key.request(method, path)
            assert admins_key.status_code == 403
            assert "not an API key" in admins_key.json()["error"]["message"]
            assert anonymous.request(method, path).status_code == 401


def test_the_administrator_sees_health_optimizes_and_prunes(admin: User) -> None:
    health = admin.client.get("/admin/db/health")
    assert health.status_code == 200
    body = health.json()
    assert body["ok"] is True and body["migrations_pending"] == []
    assert body["connections"]["this_database"] >= 1 and body["pool"]["size"] >= 1
    assert {t["name"] for t in body["tables"]} >= {"graph_executions", "node_executions"}
    assert body["slow_queries"]["available"] is False and body["slow_queries"]["reason"]

    optimized = admin.client.post("/admin/db/optimize")
    assert optimized.status_code == 200
    assert {"tables", "dead_tuples_removed", "reclaimed_bytes"} <= set(optimized.json())

    dry = admin.client.post("/admin/db/prune", params={"dry_run": "true"})
    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True and dry.json()["runs"] == 0
    assert admin.client.post("/admin/db/prune").json()["dry_run"] is False


def test_a_downloaded_backup_restores(accounts_server: ServerProcess, admin: User, tmp_path: Path) -> None:
    # A user of its own: the shared users' inboxes must not get this run's notifications.
    owner = signup(accounts_server, "backed-up")
    graph = create_graph(owner.client, hello_graph(name=f"backed up {uuid.uuid4().hex[:6]}"))
    assert run_graph(owner.client, graph["id"], {"name": "Ada"})["status"] == "COMPLETED"
    owner.close()
    with admin.client.stream("GET", "/admin/db/backup") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith('attachment; filename="workbench-')
        assert "content-encoding" not in response.headers  # a dump is compressed already
        dump = tmp_path / "download.dump"
        with dump.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
    assert dump.read_bytes()[:5] == b"PGDMP"

    async def restore_and_compare() -> tuple[list[Any], list[Any]]:
        name = f"restored_{uuid.uuid4().hex[:8]}"
        admin_conn = await asyncpg.connect(server_database(accounts_server, "postgres"))
        await admin_conn.execute(f'CREATE DATABASE "{name}"')
        try:
            tool = find_tool("pg_restore", 16)
            proc = await asyncio.create_subprocess_exec(
                tool.path, f"--dbname={server_database(accounts_server, name)}", "--no-owner", str(dump),
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            rows = []
            for url in (server_database(accounts_server), server_database(accounts_server, name)):
                conn = await asyncpg.connect(url)
                try:
                    rows.append(
                        await conn.fetch(
                            "SELECT u.email, g.name FROM graphs g JOIN users u ON u.id = g.user_id WHERE g.id = $1",
                            uuid.UUID(graph["id"]),
                        )
                    )
                finally:
                    await conn.close()
            return rows[0], rows[1]
        finally:
            await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin_conn.close()

    live, restored = asyncio.run(restore_and_compare())
    assert live == restored and [tuple(r) for r in restored] == [(owner.email, graph["name"])]


def test_the_local_user_is_an_administrator(local_server: ServerProcess) -> None:
    with api(local_server) as client:
        assert client.get("/auth/me").json()["is_admin"] is True
        assert client.get("/admin/db/health").status_code == 200


def test_users_set_their_own_retention(accounts_server: ServerProcess, bob: User) -> None:
    assert bob.client.get("/executions/retention").json() == {
        "days": None,
        "per_agent": None,
        "server": {"days": None, "per_agent": None},
        "effective": {"days": None, "per_agent": None},
    }
    changed = bob.client.put("/executions/retention", json={"days": 30, "per_agent": 100})
    assert changed.status_code == 200
    assert changed.json()["effective"] == {"days": 30, "per_agent": 100}
    assert bob.client.get("/executions/retention").json()["days"] == 30
    bad = bob.client.put("/executions/retention", json={"days": 0})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["key"] == "days"
    assert bob.client.put("/executions/retention", json={"keep": 3}).status_code == 422
    reader, _ = bob.key("graphs:read")
    with api(accounts_server, api_key=reader) as by_key:
        assert by_key.get("/executions/retention").status_code == 200
        refused = by_key.put("/executions/retention", json={"days": 1})
        assert refused.status_code == 403 and "graphs:execute" in refused.json()["error"]["message"]
    assert bob.client.put("/executions/retention", json={}).json()["effective"] == {
        "days": None,
        "per_agent": None,
    }


@pytest.mark.parametrize("body", [{"days": 1.5}, {"per_agent": 2_000_000}])
def test_retention_bounds_out_of_range_are_refused(bob: User, body: dict[str, Any]) -> None:
    refused = bob.client.put("/executions/retention", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["key"] == next(iter(body))
