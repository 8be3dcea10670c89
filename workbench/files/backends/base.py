"""The blob store interface: bytes under keys, in a local folder or an S3-compatible bucket.

Keys are relative paths made of letters, digits, ``.``, ``_``, ``-`` and ``/`` (``<user id>/<file
id>``); a backend refuses anything else, so no key can reach outside its folder or prefix. A backend
is started before use and stopped with the application; using it unstarted raises RuntimeError.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

from workbench.errors import StoreError

_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


class BlobNotFound(StoreError):
    """No blob under that key."""


def check_key(key: str) -> str:
    """``key`` when it is a safe relative key (no ``..``, no absolute path); ValueError otherwise."""
    if not _KEY.match(key) or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"not a valid blob key: {key!r}")
    return key


class BlobStore(ABC):
    """Bytes under keys. ``describe()`` names where (never with secrets), for messages and logs."""

    @abstractmethod
    async def start(self) -> None:
        """Open connections, create the folder: called once before use."""

    @abstractmethod
    async def stop(self) -> None:
        """Release connections."""

    @abstractmethod
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store ``data`` under ``key``, replacing what was there (all or nothing)."""

    @abstractmethod
    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`BlobNotFound` when there are none."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (nothing happens when it is not there)."""

    @abstractmethod
    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, sorted."""

    @abstractmethod
    def describe(self) -> str:
        """Where the blobs are, for messages (``/srv/files``, ``s3://bucket/prefix``)."""
