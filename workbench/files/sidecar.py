"""File records without a database: a JSON sidecar next to each blob (``<user>/<file id>.json``).

What an ephemeral workbench (``workbench run``) uses, so that blocks store and read files exactly as
they do on the platform. Listing reads every sidecar of the user: fine for a command's files, not for
a server (which keeps records in PostgreSQL, see ``workbench.store.files``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from workbench.files.backends.base import BlobNotFound, BlobStore
from workbench.files.model import FileRecord, file_id_or_none

SUFFIX = ".json"


def sidecar_key(user_id: str, file_id: str) -> str:
    """Where the record of ``file_id`` is kept."""
    return f"{user_id}/{file_id}{SUFFIX}"


class SidecarIndex:
    """File records as JSON blobs beside the files themselves (a :class:`~workbench.files.FileIndex`)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    async def add(self, record: FileRecord) -> None:
        """Write the record's sidecar."""
        body = json.dumps(record.to_dict()).encode()
        await self.blobs.put(sidecar_key(record.user_id, record.id), body, "application/json")

    async def get(self, file_id: str, user_id: str) -> FileRecord | None:
        """The record, when this user has that file."""
        file_id = file_id_or_none(file_id) or ""
        user = file_id_or_none(user_id)
        if not file_id or not user:
            return None
        try:
            doc = json.loads(await self.blobs.get(sidecar_key(user, file_id)))
        except BlobNotFound:
            return None
        record = FileRecord.from_dict(doc)
        return record if record.user_id == user else None

    async def list(self, user_id: str, *, limit: int, offset: int) -> tuple[Sequence[FileRecord], int]:
        """The user's records, newest first."""
        user = file_id_or_none(user_id)
        if not user:
            return [], 0
        records = []
        for key in await self.blobs.keys(f"{user}/"):
            if key.endswith(SUFFIX):
                found = await self.get(key.rsplit("/", 1)[-1][: -len(SUFFIX)], user)
                if found is not None:
                    records.append(found)
        records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return records[offset : offset + limit], len(records)

    async def remove(self, file_id: str, user_id: str) -> FileRecord | None:
        """Delete the sidecar; the record it held."""
        record = await self.get(file_id, user_id)
        if record is not None:
            await self.blobs.delete(sidecar_key(record.user_id, record.id))
        return record
