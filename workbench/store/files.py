"""File records in PostgreSQL (table ``files``, ``migrations/0012_files.sql``).

Every query is scoped by the user: another user's file is simply not found. The bytes are not here
but in the blob store (``workbench.files.backends``); the file service keeps the two in step.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from workbench.errors import StoreError
from workbench.files.model import FileRecord, file_id_or_none

T = TypeVar("T")


def _record(row: asyncpg.Record) -> FileRecord:
    return FileRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        name=row["name"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        storage_key=row["storage_key"],
        created_at=row["created_at"],
        graph_execution_id=str(row["graph_execution_id"]) if row["graph_execution_id"] else None,
    )


async def _guarded(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Translate the driver's failures into StoreError naming what was being done."""
    try:
        return await call()
    except (asyncpg.PostgresError, OSError) as exc:
        raise StoreError(f"cannot {what}: {exc}") from exc


class FileRepository:
    """SQL for file records (a :class:`~workbench.files.FileIndex`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add(self, record: FileRecord) -> None:
        """Insert a record."""
        await _guarded(
            "store the file record",
            lambda: self.pool.execute(
                """INSERT INTO files (id, user_id, name, content_type, size, sha256, storage_key,
                                      graph_execution_id, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                uuid.UUID(record.id),
                uuid.UUID(record.user_id),
                record.name,
                record.content_type,
                record.size,
                record.sha256,
                record.storage_key,
                uuid.UUID(record.graph_execution_id) if record.graph_execution_id else None,
                record.created_at,
            ),
        )

    async def get(self, file_id: str, user_id: str) -> FileRecord | None:
        """The user's file with this id."""
        fid, uid = file_id_or_none(file_id), file_id_or_none(user_id)
        if fid is None or uid is None:
            return None
        row = await _guarded(
            "read the file record",
            lambda: self.pool.fetchrow(
                "SELECT * FROM files WHERE id = $1 AND user_id = $2", uuid.UUID(fid), uuid.UUID(uid)
            ),
        )
        return _record(row) if row else None

    async def list(self, user_id: str, *, limit: int, offset: int) -> tuple[Sequence[FileRecord], int]:
        """A page of the user's files, newest first, and their number."""
        uid = file_id_or_none(user_id)
        if uid is None:
            return [], 0
        rows = await _guarded(
            "list files",
            lambda: self.pool.fetch(
                """SELECT *, count(*) OVER () AS total FROM files WHERE user_id = $1
                   ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3""",
                uuid.UUID(uid),
                limit,
                offset,
            ),
        )
        if rows:
            return [_record(r) for r in rows], rows[0]["total"]
        total = await _guarded(
            "count files",
            lambda: self.pool.fetchval("SELECT count(*) FROM files WHERE user_id = $1", uuid.UUID(uid)),
        )
        return [], total

    async def remove(self, file_id: str, user_id: str) -> FileRecord | None:
        """Delete the user's record; the record it was."""
        fid, uid = file_id_or_none(file_id), file_id_or_none(user_id)
        if fid is None or uid is None:
            return None
        row = await _guarded(
            "delete the file record",
            lambda: self.pool.fetchrow(
                "DELETE FROM files WHERE id = $1 AND user_id = $2 RETURNING *", uuid.UUID(fid), uuid.UUID(uid)
            ),
        )
        return _record(row) if row else None
