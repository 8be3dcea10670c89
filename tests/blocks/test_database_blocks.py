"""The PostgreSQL blocks against the test run's real embedded database (a scratch schema)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from blocks.database import PostgresInsertBlock, PostgresQueryBlock, PostgresUpdateBlock, quote_ident
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.errors import BlockError
from workbench.net import BlockedAddress


class Db:
    """A user with a 'postgres' credential for the embedded database and a scratch table."""

    def __init__(self, wb: Workbench, user_id: str, cred_id: str, table: str) -> None:
        self.wb, self.user_id, self.cred_id, self.table = wb, user_id, cred_id, table

    def context(self, allow_local: bool = True) -> RunContext:
        ctx = RunContext.for_test(
            self.wb.settings.with_(http_allow_private=allow_local), self.wb.block_services
        )
        ctx.user_id = self.user_id
        return ctx

    async def run(self, block: object, data: dict, **kw: bool) -> dict:
        return dict(await run_block_once(block, {"credentials": self.cred_id, **data}, self.context(**kw)))


@pytest.fixture(scope="module")
async def db(wb: Workbench) -> Db:
    assert wb.accounts is not None and wb.credentials is not None and wb.db is not None and wb.db.url
    user = await wb.accounts.signup(f"db-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery")
    cred = await wb.credentials.create(user.id, "postgres", "user_password", {"dsn": wb.db.url})
    schema = f"scratch_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(wb.db.url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"""CREATE TABLE {schema}.items (id serial PRIMARY KEY, name text NOT NULL, price numeric,
                made date, meta jsonb, done boolean DEFAULT false)"""
        )
    finally:
        await conn.close()
    return Db(wb, user.id, cred.id, f"{schema}.items")


async def test_insert_query_update_round_trip(db: Db) -> None:
    rows = [
        {"name": "pen", "price": "1.50", "made": "2024-05-01", "meta": {"colour": "blue"}},
        {"name": "ink'); DROP TABLE x; --", "price": 3, "made": None, "meta": None},
    ]
    out = await db.run(PostgresInsertBlock(), {"table": db.table, "rows": rows, "returning": ["id", "name"]})
    assert out["inserted_count"] == 2
    ids = [r["id"] for r in out["rows"]]
    assert [r["name"] for r in out["rows"]] == ["pen", "ink'); DROP TABLE x; --"]
    query = f"SELECT name, price, made, meta, done FROM {db.table} WHERE id = ANY($1::int[]) ORDER BY id"
    got = await db.run(PostgresQueryBlock(), {"query": query, "parameters": [ids]})
    assert got["rows"] == [
        {"name": "pen", "price": 1.5, "made": "2024-05-01", "meta": '{"colour": "blue"}', "done": False},
        {"name": "ink'); DROP TABLE x; --", "price": 3, "made": None, "meta": None, "done": False},
    ]
    assert got["row_count"] == 2 and got["truncated"] is False
    upd = await db.run(
        PostgresUpdateBlock(),
        {"table": db.table, "values": {"done": "true"}, "where": {"id": ids[0]}, "returning": ["*"]},
    )
    assert upd["updated_count"] == 1 and upd["rows"][0]["done"] is True


async def test_row_limit_and_truncation(db: Db) -> None:
    out = await db.run(
        PostgresQueryBlock(), {"query": "SELECT g FROM generate_series(1, 50) g", "max_rows": 10}
    )
    assert out["rows"] == [{"g": i} for i in range(1, 11)]
    assert out["truncated"] is True


async def test_read_only_by_default(db: Db) -> None:
    write = f"INSERT INTO {db.table} (name) VALUES ($1) RETURNING id"
    with pytest.raises(BlockError, match="read-only"):
        await db.run(PostgresQueryBlock(), {"query": write, "parameters": ["sneaky"]})
    with pytest.raises(BlockError, match="read-write mode must be set before any query"):
        await db.run(PostgresQueryBlock(), {"query": "SET TRANSACTION READ WRITE"})
    out = await db.run(PostgresQueryBlock(), {"query": write, "parameters": ["ok"], "read_only": False})
    assert out["row_count"] == 1


async def test_one_statement_only_and_parameters_checked(db: Db) -> None:
    with pytest.raises(BlockError, match="cannot insert multiple commands"):
        await db.run(PostgresQueryBlock(), {"query": f"SELECT 1; DELETE FROM {db.table}"})
    with pytest.raises(BlockError, match=r"1 parameter\(s\) \(\$1...\), got 0"):
        await db.run(PostgresQueryBlock(), {"query": "SELECT $1::int"})
    with pytest.raises(BlockError, match=r"parameter \$1: 'soon' is not a valid date"):
        await db.run(PostgresQueryBlock(), {"query": "SELECT $1::date", "parameters": ["soon"]})


async def test_statement_timeout(db: Db) -> None:
    with pytest.raises(BlockError, match=r"longer than 0\.2 s"):
        await db.run(PostgresQueryBlock(), {"query": "SELECT pg_sleep(5)", "timeout_seconds": 0.2})


@pytest.mark.parametrize(
    "name", ['items"; DROP TABLE x; --', "a.b.c", "1abc", "", "x y", "a" * 64, "public.items;"]
)
def test_identifiers_are_validated(name: str) -> None:
    with pytest.raises(BlockError, match="is not allowed"):
        quote_ident(name)


def test_identifiers_are_quoted() -> None:
    assert quote_ident("public.Items") == '"public"."Items"'


async def test_bad_identifiers_and_missing_where_fail_before_connecting(db: Db) -> None:
    with pytest.raises(BlockError, match="column 'name\\) VALUES' is not allowed"):
        await db.run(PostgresInsertBlock(), {"table": db.table, "rows": [{"name) VALUES": 1}]})
    with pytest.raises(BlockError, match="where: give at least one condition"):
        await db.run(PostgresUpdateBlock(), {"table": db.table, "values": {"name": "x"}, "where": {}})
    with pytest.raises(BlockError, match=r"rows\[1\] has columns"):
        await db.run(PostgresInsertBlock(), {"table": db.table, "rows": [{"name": "a"}, {"price": 1}]})


async def test_local_databases_are_refused_by_default(db: Db) -> None:
    with pytest.raises(BlockedAddress, match="Unix socket"):
        await db.run(PostgresQueryBlock(), {"query": "SELECT 1"}, allow_local=False)
    assert db.wb.credentials is not None
    tcp = await db.wb.credentials.create(
        db.user_id, "postgres", "user_password", {"host": "127.0.0.1", "user": "x", "database": "y"}
    )
    ctx = db.context(allow_local=False)
    with pytest.raises(BlockedAddress, match="loopback"):
        await run_block_once(PostgresQueryBlock(), {"credentials": tcp.id, "query": "SELECT 1"}, ctx)
