"""The embedded PostgreSQL and the migrations: real servers, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.errors import InputError
from workbench.store.database import Database
from workbench.store.migrate import discover, migrate

ROOT = Path(__file__).resolve().parents[2]

START_AND_REPORT = """
import asyncio, json
from workbench.config import Settings
from workbench.store.database import Database

async def main():
    db = Database(Settings.from_env())
    await db.start()
    health = await db.health()
    async with db.pool.acquire() as conn:
        rows = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    await db.stop()
    print(json.dumps({"applied": health["migrations_applied"], "rows": rows, "ext": sorted(health["extensions"])}))

asyncio.run(main())
"""


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["WORKBENCH_HOME"] = str(home)
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.slow
def test_concurrent_first_start_from_two_processes(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"  # does not exist yet: both processes race to create everything
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", START_AND_REPORT],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        versions = [m.version for m in discover()]
        assert report["applied"] == versions
        assert report["rows"] == len(versions)  # each migration recorded once, not once per process
        assert "vector" in report["ext"]


async def test_migrations_are_recorded_and_idempotent(wb) -> None:
    async with wb.db.pool.acquire() as conn:
        assert await migrate(conn) == []  # already applied at start
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in discover()]
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert {
        "users",
        "graphs",
        "graph_nodes",
        "graph_links",
        "blocks",
        "graph_executions",
        "node_executions",
        "credentials",
        "schedules",
    } <= tables


async def test_pgvector_and_uuid_generation_work(wb) -> None:
    async with wb.db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector") == pytest.approx(1.0)
        assert len(str(await conn.fetchval("SELECT gen_random_uuid()"))) == 36


async def test_health_reports_state(wb) -> None:
    health = await wb.db.health()
    assert health["ok"] is True
    assert health["server_version"].startswith("16")
    assert health["migrations_pending"] == []
    assert "embedded PostgreSQL" in health["database"]


async def test_block_catalogue_synced(wb) -> None:
    from workbench.block.registry import default_registry

    stored = {r["id"] for r in await wb.db.pool.fetch("SELECT id FROM blocks")}
    assert {b.id for b in default_registry() if b.__module__.startswith("blocks.")} <= stored
    row = await wb.db.pool.fetchrow("SELECT * FROM blocks WHERE id = 'db7d8f02-2f44-4c55-ab7a-eae0941f0c30'")
    assert row["name"] == "FillTextTemplateBlock"
    assert "format" in row["input_schema"]["properties"]


async def test_bad_database_url_is_a_clear_error() -> None:
    from workbench.errors import ConfigError, StoreUnavailable

    with pytest.raises(ConfigError, match="DATABASE_URL must be a postgresql:// URL"):
        Settings.from_env({"DATABASE_URL": "mysql://x"})
    db = Database(Settings.from_env({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}))
    with pytest.raises(StoreUnavailable, match=r"cannot connect to PostgreSQL \(127\.0\.0\.1:1/none\)"):
        await db.start()


async def test_nul_characters_never_break_storage(wb) -> None:
    """PostgreSQL cannot store NUL in text or jsonb; a block yielding one must not poison the writer."""
    from workbench import block
    from workbench.graph.builder import GraphBuilder

    @block(register=False)
    async def nul_maker(text: str) -> str:
        """Yields a text with a NUL character."""
        return text + "\x00end"

    g = GraphBuilder("nul", registry=wb.registry)
    src = g.input("text")
    node = g.add(nul_maker)
    src.result >> node.text
    node.result >> g.output("out").value
    with pytest.raises(InputError, match=r"inputs\.text: contains a NUL character"):
        await wb.executions.run(g.build(), {"text": "a\x00b"})  # a user's NUL is refused, located
    result = await wb.executions.run(g.build(), {"text": "ab"})
    assert result.status == "COMPLETED"
    # The immediate result reads as every later read will: U+FFFD in place of the NUL.
    assert result.outputs == {"out": ["ab\ufffdend"]}
    [made] = [n for n in result.node_executions if n.block_id == nul_maker.id]
    assert made.outputs == [("result", "ab\ufffdend")]
    stored = await wb.executions.repo.get(result.execution_id, None)
    assert stored.status == "COMPLETED"
    assert stored.outputs == {"out": ["ab\ufffdend"]}  # stored with U+FFFD in place of NUL
    assert stored.inputs == {"text": "ab"}
    again = await wb.executions.get(result.execution_id)
    assert again.outputs == result.outputs
    assert [n.outputs for n in again.node_executions] == [n.outputs for n in result.node_executions]


async def test_the_embedded_server_stops_only_when_its_last_user_leaves(tmp_path) -> None:
    settings = Settings.from_env({"WORKBENCH_HOME": str(tmp_path / "home")})
    postmaster = tmp_path / "home" / "pgdata" / "postmaster.pid"
    first, second = Database(settings), Database(settings)
    await first.start()
    await second.start()
    await first.stop()
    assert postmaster.exists() and await second.pool.fetchval("SELECT 1") == 1  # still in use
    await second.stop()
    assert not postmaster.exists()
    again = Database(settings)  # and it starts again for a later user
    await again.start()
    assert await again.pool.fetchval("SELECT 2") == 2
    await again.stop()
    assert not postmaster.exists()


async def test_a_connection_back_in_the_pool_carries_no_open_transaction(settings: Settings) -> None:
    db = Database(settings.with_(pool_size=1))
    await db.start()
    try:
        conn = await db.pool.acquire()
        await conn.execute("BEGIN")
        await conn.execute("CREATE TEMP TABLE leaked (x int)")
        await db.pool.release(conn)  # released mid-transaction (a bug elsewhere): rolled back
        async with db.pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT to_regclass('pg_temp.leaked')") is None
    finally:
        await db.stop()
