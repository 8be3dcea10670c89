"""Fresh databases on the test run's embedded PostgreSQL (``CREATE DATABASE``), for what must not
touch the shared one: backups compared row for row, restores, pruning by a server-wide policy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from workbench.app import Workbench
from workbench.config import Settings
from workbench.services.dbmanager.tools import with_database
from workbench.store.database import Database

NewDatabase = Callable[..., Awaitable[str]]


@pytest.fixture(autouse=True)
async def no_retention_left(wb: Workbench) -> AsyncIterator[None]:
    """Users' retention bounds set by a test end with it (the shared database's pruning stays the
    next test's own)."""
    yield
    assert wb.db is not None
    await wb.db.pool.execute("DELETE FROM retention_settings")


@pytest.fixture
async def new_database(wb: Workbench) -> AsyncIterator[NewDatabase]:
    """Makes empty databases on the embedded server (dropped after the test); returns each one's URL.
    ``migrated=True``: with the schema of this version."""
    assert wb.db is not None and wb.db.url is not None
    base = wb.db.url
    made: list[str] = []

    async def make(*, migrated: bool = False) -> str:
        name = f"wbtest_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(with_database(base, "postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        made.append(name)
        url = with_database(base, name)
        if migrated:
            db = Database(Settings(home=wb.settings.home, database_url=url))
            await db.start()
            await db.stop()
        return url

    yield make
    admin = await asyncpg.connect(with_database(base, "postgres"))
    try:
        for name in made:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def table_rows(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database (outside the system schemas), as text, sorted."""
    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetch(
            """SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name
               FROM information_schema.tables
               WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
               ORDER BY 1"""
        )
        return {
            r["name"]: sorted(x["row"] for x in await conn.fetch(f"SELECT t::text AS row FROM {r['name']} t"))
            for r in names
        }
    finally:
        await conn.close()
