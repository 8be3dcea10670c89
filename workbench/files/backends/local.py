"""Blobs as files in a local folder (by default ``<WORKBENCH_HOME>/files``).

Writes go to a temporary file in the same folder, then are renamed into place: a reader never sees a
half-written blob, and a crash leaves at most a stray ``.tmp-*`` file.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from workbench.errors import StoreUnavailable
from workbench.files.backends.base import BlobNotFound, BlobStore, check_key


class LocalBlobStore(BlobStore):
    """A folder of blobs; keys are relative paths inside it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self._started = False

    def describe(self) -> str:
        """The folder."""
        return str(self.root)

    async def start(self) -> None:
        """Create the folder (private to this user)."""
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the file store folder {self.root}: {exc}") from exc
        self._started = True

    async def stop(self) -> None:
        """Nothing to release."""
        self._started = False

    def _path(self, key: str) -> Path:
        if not self._started:
            raise RuntimeError("the file store is not started (LocalBlobStore.start() was not called)")
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write atomically (temporary file, fsync, rename)."""
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        """The file's bytes."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(f"no blob {key!r} in {self.root}") from None

    async def delete(self, key: str) -> None:
        """Remove the file if it is there."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (temporary files left out)."""
        if not self._started:
            raise RuntimeError("the file store is not started (LocalBlobStore.start() was not called)")
        return await asyncio.to_thread(self._scan, prefix)

    def _scan(self, prefix: str) -> list[str]:
        folder, _, _ = prefix.rpartition("/")
        base = self.root / check_key(folder) if folder else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)
