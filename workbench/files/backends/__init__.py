"""Blob store backends, chosen by ``WORKBENCH_FILE_STORE_URL``: a local folder or an S3 bucket."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from workbench.errors import ConfigError
from workbench.files.backends.base import BlobNotFound, BlobStore, check_key
from workbench.files.backends.local import LocalBlobStore
from workbench.files.backends.s3 import SETTING, S3BlobStore, S3Location

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "S3Location",
    "check_key",
    "open_blob_store",
]


def open_blob_store(url: str | None, home: Path) -> BlobStore:
    """The backend ``url`` names: none means ``<home>/files``; ``file:///path`` a folder;
    ``s3://bucket/prefix?endpoint_url=...&region=...`` a bucket. Anything else is a ConfigError."""
    if not url:
        return LocalBlobStore(home / "files")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"{SETTING} must be file:///absolute/path, got {url!r}")
        return LocalBlobStore(Path(unquote(parts.path)))
    if scheme == "s3":
        return S3BlobStore.from_url(url)
    raise ConfigError(f"{SETTING} must start with file:// or s3://, got scheme {scheme!r}")
