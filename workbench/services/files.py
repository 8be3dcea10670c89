"""The file service: users' files, one set of rules for the API, the client and blocks.

- **Size**: a file is at most ``WORKBENCH_FILE_MAX_BYTES`` (50 MB by default): :class:`FileTooLarge`,
  a 413 at the API.
- **Names** are cleaned (:func:`~workbench.files.sanitize_name`): no path, no control characters.
- **Types**: the given media type when it is one, else sniffed from the bytes and the name.
- **Who sees what**: every call names the user; another user's file is :class:`NotFoundError`, exactly
  as an unknown id is, so no answer tells whether someone else's file exists.
- **Scanning** (``WORKBENCH_FILE_SCAN``, :mod:`workbench.files.scanning`): :meth:`FileService.check`
  is the one function every way in goes through: uploads (API, clients, web apps) and files blocks
  store (:meth:`FileService.put`), files blocks read from outside without storing them
  (:func:`workbench.files.read_media`), knowledge documents. An infected file is refused naming what
  was found (:class:`~workbench.files.scanning.FileInfected`, 422); a scanner that cannot answer
  refuses every file (:class:`~workbench.files.scanning.ScannerUnavailable`, 503).

Storing writes the blob, scans it, then writes the record: until the record exists nothing can reach
the file (every read, listing and reference goes through the record), so a file is stored, then
scanned, before any block sees it. A refusal or failure in between removes the blob. Deleting removes
the record, then the blob. A crash can leave an unreferenced blob (never readable), never a record
without its bytes.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.errors import NotFoundError, StoreError
from workbench.files.backends import BlobNotFound, BlobStore, open_blob_store
from workbench.files.model import (
    DEFAULT_TYPE,
    FileIndex,
    FileRecord,
    FileTooLarge,
    clean_media_type,
    file_id_or_none,
    sanitize_name,
    sniff_content_type,
)
from workbench.files.scanning import FileScanner, NoScanner
from workbench.files.sidecar import SidecarIndex
from workbench.store.files import FileRepository

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)
MAX_PAGE = 500


class FileService:
    """Store, read, list and delete users' files (see the module documentation)."""

    def __init__(
        self, blobs: BlobStore, index: FileIndex, *, max_bytes: int, scanner: FileScanner | None = None
    ) -> None:
        self.blobs = blobs
        self.index = index
        self.max_bytes = max_bytes
        self.scanner = scanner or NoScanner()
        """Checks every file before anything uses it (:mod:`workbench.files.scanning`); started and
        stopped by its owner (the Workbench), not by this service."""
        self._started = False

    @classmethod
    def from_settings(
        cls, settings: Settings, pool: asyncpg.Pool | None = None, scanner: FileScanner | None = None
    ) -> FileService:
        """The blob store ``WORKBENCH_FILE_STORE_URL`` names; records in PostgreSQL when there is a
        ``pool``, else in JSON sidecars next to the blobs; files checked by ``scanner``."""
        blobs = open_blob_store(settings.file_store_url, settings.home)
        index: FileIndex = FileRepository(pool) if pool is not None else SidecarIndex(blobs)
        return cls(blobs, index, max_bytes=settings.file_max_bytes, scanner=scanner)

    @classmethod
    def of(cls, wb: Any) -> FileService:
        """The service of a started Workbench (its ``files``)."""
        if wb.files is None:
            raise RuntimeError("the workbench is not started: it has no file service yet")
        return wb.files

    def describe(self) -> str:
        """Where the bytes are."""
        return self.blobs.describe()

    async def start(self) -> FileService:
        """Start the blob store."""
        if not self._started:
            await self.blobs.start()
            self._started = True
        return self

    async def stop(self) -> None:
        """Stop the blob store."""
        if self._started:
            self._started = False
            await self.blobs.stop()

    async def check(self, data: bytes | str, name: str = "") -> None:
        """Scan what a user brings in before anything uses it: returns when it is clean (or scanning
        is off); FileInfected, ScannerUnavailable or FileTooLarge otherwise. Text is scanned as UTF-8."""
        await self.scanner.check(data.encode("utf-8") if isinstance(data, str) else bytes(data), name)

    async def put(
        self,
        user_id: str,
        data: bytes,
        *,
        name: str = "",
        content_type: str = "",
        graph_execution_id: str | None = None,
    ) -> FileRecord:
        """Keep ``data`` as a new file of ``user_id``; its record (``.ref`` is ``workspace://<id>``)."""
        data = bytes(data)
        if len(data) > self.max_bytes:
            raise FileTooLarge(len(data), self.max_bytes)
        kind = clean_media_type(content_type)
        if kind in ("", DEFAULT_TYPE):
            kind = sniff_content_type(data, name)
        clean = sanitize_name(name, kind)
        file_id = str(uuid.uuid4())
        user = file_id_or_none(user_id)
        if user is None:
            raise NotFoundError(f"no user {user_id!r}")
        record = FileRecord(
            id=file_id,
            user_id=user,
            name=clean,
            content_type=kind,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            storage_key=f"{user}/{file_id}",
            created_at=datetime.now(UTC),
            graph_execution_id=file_id_or_none(graph_execution_id) if graph_execution_id else None,
        )
        await self.blobs.put(record.storage_key, data, kind)  # no record yet: nothing can reach it
        try:
            await self.check(data, clean)
            await self.index.add(record)
        except BaseException:
            try:
                await self.blobs.delete(record.storage_key)
            except Exception:
                log.warning("file %s was refused or failed, and its bytes could not be removed", file_id)
            raise
        log.info("stored file %s (%d bytes, %s) for user %s", file_id, record.size, kind, user)
        return record

    async def get(self, file_id: str, user_id: str) -> FileRecord:
        """The user's file record; NotFoundError for an unknown id or another user's file."""
        record = await self.index.get(file_id, user_id)
        if record is None:
            raise NotFoundError(f"no file {file_id!r}")
        return record

    async def read(self, file_id: str, user_id: str) -> tuple[FileRecord, bytes]:
        """The user's file record and its bytes."""
        record = await self.get(file_id, user_id)
        try:
            data = await self.blobs.get(record.storage_key)
        except BlobNotFound as exc:
            raise StoreError(
                f"file {record.id} has a record but no bytes in {self.blobs.describe()}"
            ) from exc
        return record, data

    async def list(
        self, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[FileRecord], int]:
        """A page of the user's files, newest first, and how many there are."""
        limit = max(1, min(int(limit), MAX_PAGE))
        return await self.index.list(user_id, limit=limit, offset=max(0, int(offset)))

    async def delete(self, file_id: str, user_id: str) -> None:
        """Delete the user's file (record, then bytes); NotFoundError when it is not theirs."""
        record = await self.index.remove(file_id, user_id)
        if record is None:
            raise NotFoundError(f"no file {file_id!r}")
        try:
            await self.blobs.delete(record.storage_key)
        except StoreError:
            log.warning("file %s: record deleted, its bytes could not be (left in the store)", record.id)
