"""Numbered SQL migrations, applied in order, each in a transaction, under an advisory lock."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

import workbench

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x776F726B62656E63  # "workbenc": one key for every process migrating this database
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: ``NNNN_name.sql``."""

    version: int
    name: str
    path: Path

    def sql(self) -> str:
        """The file's SQL text."""
        return self.path.read_text(encoding="utf-8")


def migrations_dir() -> Path:
    """Where the SQL files are: packaged inside ``workbench`` or, in a checkout, beside it."""
    pkg = Path(workbench.__file__).parent
    for candidate in (pkg / "_migrations", pkg.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("migrations folder not found next to the workbench package")


def discover(folder: Path | None = None) -> list[Migration]:
    """Every migration file, sorted by number; a malformed or duplicate number is an error."""
    folder = folder or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
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


async def migrate(conn: asyncpg.Connection, folder: Path | None = None) -> list[Migration]:
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
