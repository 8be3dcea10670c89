"""Numbered SQL migrations, applied in order, each in a transaction, under an advisory lock.

The SQL files are data of the ``workbench`` package: the wheel carries them as
``workbench/_migrations`` (read through :mod:`importlib.resources`, so a zipped install works too); a
checkout or an editable install reads them from ``migrations/`` at the repository's root.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x776F726B62656E63  # "workbenc": one key for every process migrating this database
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: ``NNNN_name.sql``."""

    version: int
    name: str
    path: Traversable

    def sql(self) -> str:
        """The file's SQL text."""
        return self.path.read_text(encoding="utf-8")


PACKAGED = "_migrations"
"""The folder inside the ``workbench`` package that holds the SQL files in a wheel (pyproject.toml)."""
CHECKOUT = Path(__file__).resolve().parents[2] / "migrations"
"""The SQL files of a checkout (and of an editable install): ``migrations/`` beside ``workbench/``."""


def migrations_dir() -> Traversable:
    """Where the SQL files are: packaged inside ``workbench`` (a wheel), else the checkout's folder."""
    packaged = resources.files("workbench") / PACKAGED
    for candidate in (packaged, CHECKOUT):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no migrations: neither workbench/{PACKAGED} (a wheel) nor {CHECKOUT} exists")


def discover(folder: Traversable | None = None) -> list[Migration]:
    """Every migration file, sorted by number; a malformed or duplicate number is an error."""
    folder = folder or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        version = int(m.group(1))
        if version in found:
            raise ValueError(
                f"two migrations numbered {version:04d}: {found[version].path.name}, {path.name}"
            )
        found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


async def migrate(conn: asyncpg.Connection, folder: Traversable | None = None) -> list[Migration]:
    """Apply the pending migrations; return those applied. Safe to run from many processes at once."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        done = []
        for migration in discover(folder):
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    """Versions recorded as applied (empty when the table does not exist yet)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    return [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
