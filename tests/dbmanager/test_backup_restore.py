"""Backups (pg_dump, custom format) restored into fresh databases are the same row for row; a restore
never lands on a database that holds something unless forced; passwords stay off command lines."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.dbmanager.conftest import NewDatabase, table_rows
from tests.dbmanager.rows import add_chat, add_file, add_knowledge, add_review, add_run, new_graph, new_user
from tests.store.monitor_data import sleeping_agent
from workbench.app import Workbench
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.errors import ConfigError, ConflictError, InputError, StoreError
from workbench.services.dbmanager import DatabaseManager
from workbench.services.dbmanager.backup import Progress
from workbench.services.dbmanager.tools import connection, embedded_bin, find_tool
from workbench.store.database import Database

ROOT = Path(__file__).resolve().parents[2]


async def open_manager(settings: Settings, url: str) -> tuple[Database, DatabaseManager]:
    db = Database(settings.with_(database_url=url))
    await db.start(run_migrations=False)
    return db, DatabaseManager(db)


@pytest.fixture
async def source(new_database: NewDatabase, settings: Settings, registry: BlockRegistry) -> str:
    """A database with real runs, sub-graph runs, chat, knowledge (a vector), files and reviews."""
    url = await new_database(migrated=True)
    async with Workbench(settings.with_(database_url=url), registry=registry) as bench:
        assert bench.db is not None
        pool = bench.db.pool
        user = await new_user(pool, "backup")
        agent = await bench.graphs.create(sleeping_agent(0, name="napper"), user)
        for i in range(3):
            result = await bench.executions.run(
                agent, {"text": f"hi {i} \u00e9\u4e2d"}, user_id=user, timeout=30
            )
            assert result.ok
        graph = await new_graph(pool, user)
        root = await add_run(pool, user, graph, nodes=5)
        await add_run(pool, user, graph, parent=root, status="FAILED")
        await add_chat(pool, user, graph, root)
        await add_knowledge(pool, user)
        await add_file(pool, user, root)
        await add_review(pool, user, graph, root)
    return url


async def test_a_backup_restored_into_a_fresh_database_is_the_same_row_for_row(
    source: str, new_database: NewDatabase, settings: Settings, tmp_path: Path
) -> None:
    steps: list[Progress] = []
    db, manager = await open_manager(settings, source)
    try:
        done = await manager.backup(tmp_path / "wb.dump", progress=steps.append)
    finally:
        await db.stop()
    assert done["bytes"] == (tmp_path / "wb.dump").stat().st_size > 0
    assert not (tmp_path / "wb.dump.partial").exists()
    assert "embedded" in done["pg_dump"]  # pgserver's pg_dump, preferred
    assert any(p.step == "public.node_executions" for p in steps)
    assert steps[-1].step == "done" and steps[-1].done == steps[-1].total
    assert all(a.done <= b.done for a, b in itertools.pairwise(steps))

    target = await new_database()
    restored_steps: list[Progress] = []
    db, manager = await open_manager(settings, target)
    try:
        restored = await manager.restore(tmp_path / "wb.dump", progress=restored_steps.append)
    finally:
        await db.stop()
    assert restored["replaced"] is False and restored["migrations_pending"] == []
    assert restored_steps[-1].done == restored_steps[-1].total
    before, after = await table_rows(source), await table_rows(target)
    assert set(before) == set(after) and len(before) > 25
    for table, rows in before.items():
        assert after[table] == rows, table
    assert sum(len(r) for r in before.values()) > 50
    assert len(before["public.node_executions"]) == 3 * 3 + 5 + 2
    assert before["public.knowledge_chunks"]  # the vector column came back too
    for url in (source, target):  # the indexes too
        conn = await asyncpg.connect(url)
        try:
            indexes = await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
            )
        finally:
            await conn.close()
        if url == source:
            expected = indexes
    assert indexes == expected


async def test_a_restore_over_a_database_that_holds_something_is_refused_and_changes_nothing(
    source: str, new_database: NewDatabase, settings: Settings, tmp_path: Path
) -> None:
    db, manager = await open_manager(settings, source)
    try:
        await manager.backup(tmp_path / "wb.dump")
    finally:
        await db.stop()
    target = await new_database(migrated=True)
    conn = await asyncpg.connect(target)
    try:
        await conn.execute("INSERT INTO users (email) VALUES ('someone@example.com')")
    finally:
        await conn.close()
    before = await table_rows(target)
    db, manager = await open_manager(settings, target)
    try:
        with pytest.raises(ConflictError) as refused:
            await manager.restore(tmp_path / "wb.dump")
        message = str(refused.value)
        assert "is not empty" in message and "public.users (2 rows)" in message
        assert "migration 0019" in message and "--force" in message
        assert await table_rows(target) == before

        # Forced: what the dump contains replaces what was there.
        forced = await manager.restore(tmp_path / "wb.dump", force=True)
        assert forced["replaced"] is True
    finally:
        await db.stop()
    assert await table_rows(target) == await table_rows(source)


async def test_what_is_no_whole_dump_is_refused_and_the_database_stays_empty(
    source: str, new_database: NewDatabase, settings: Settings, tmp_path: Path
) -> None:
    db, manager = await open_manager(settings, source)
    try:
        await manager.backup(tmp_path / "wb.dump")
    finally:
        await db.stop()
    data = (tmp_path / "wb.dump").read_bytes()
    (tmp_path / "cut.dump").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.txt").write_text("not a dump")
    target = await new_database()
    db, manager = await open_manager(settings, target)
    try:
        with pytest.raises(InputError, match="not a pg_dump archive"):
            await manager.restore(tmp_path / "notes.txt")
        with pytest.raises(InputError, match="no such file"):
            await manager.restore(tmp_path / "missing.dump")
        with pytest.raises((InputError, StoreError)):  # the contents cut (InputError) or the data
            await manager.restore(tmp_path / "cut.dump")
    finally:
        await db.stop()
    assert await table_rows(target) == {}  # one transaction: nothing of the cut dump stayed


def test_the_password_goes_in_the_environment_never_on_the_command_line() -> None:
    tool = find_tool("pg_dump", 16)
    for url, password in (
        ("postgresql://wb:s3cr%40t@db.example.com:5433/prod?sslmode=require", "s3cr@t"),
        ("postgresql://wb@db.example.com/prod?password=s3cret&sslmode=require", "s3cret"),
        ("postgres://wb:pw@[::1]:5432/prod", "pw"),
    ):
        conn = connection(url)
        argv = conn.argv(tool, "--format=custom")
        assert not any(password in part for part in argv), argv
        assert conn.env["PGPASSWORD"] == password
        assert conn.database == "prod"
    assert connection("postgresql://wb:s3cr%40t@db.example.com:5433/prod?sslmode=require").url == (
        "postgresql://wb@db.example.com:5433/prod?sslmode=require"
    )
    assert connection("postgres://wb:pw@[::1]:5432/prod").url == "postgres://wb@[::1]:5432/prod"
    socket = connection("postgresql://postgres:@/workbench?host=/tmp/x")
    assert socket.url == "postgresql://postgres@/workbench?host=/tmp/x"
    assert socket.env.get("PGPASSWORD") == os.environ.get("PGPASSWORD")


def test_the_embedded_programs_are_preferred_and_a_newer_server_is_said_plainly() -> None:
    assert embedded_bin() is not None
    tool = find_tool("pg_restore", 15)
    assert tool.source == "embedded" and tool.major == 16
    with pytest.raises(ConfigError, match="PostgreSQL 99, newer than every pg_dump found"):
        find_tool("pg_dump", 99)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_line_backs_up_and_restores_without_showing_the_password(
    source: str, new_database: NewDatabase, workbench_home: Path, tmp_path: Path
) -> None:
    secret = "Sup3r-secret-pw"
    # The embedded server trusts local connections: the password is ignored, but must never show.
    with_password = source.replace("postgresql://postgres:@", f"postgresql://postgres:{secret}@", 1)
    assert secret in with_password
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home), "PYTHONPATH": str(ROOT)}
    env["DATABASE_URL"] = with_password
    backup = _cli(env, "db", "backup", str(tmp_path / "cli.dump"), "--json")
    assert backup.returncode == 0, backup.stderr
    assert json.loads(backup.stdout)["bytes"] > 0
    target = await new_database()
    env["DATABASE_URL"] = target.replace("postgresql://postgres:@", f"postgresql://postgres:{secret}@", 1)
    restore = _cli(env, "db", "restore", str(tmp_path / "cli.dump"))
    assert restore.returncode == 0, restore.stderr
    assert restore.stdout.startswith(f"restored {tmp_path / 'cli.dump'} into ")
    again = _cli(env, "db", "restore", str(tmp_path / "cli.dump"))
    assert again.returncode == 2
    assert "is not empty" in again.stderr and "--force" in again.stderr
    health = _cli(env, "db", "health")
    assert health.returncode == 0, health.stderr
    assert "connections:" in health.stdout and "dead tuples:" in health.stdout
    for proc in (backup, restore, again, health):
        assert secret not in proc.stdout + proc.stderr
    assert await table_rows(target) == await table_rows(source)
