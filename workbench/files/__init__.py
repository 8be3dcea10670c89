"""The file store: files users upload and blocks produce, kept per user, named ``workspace://<id>``.

Blocks use two functions (they reach the store through ``context.service("files")``)::

    from workbench.files import read_media, store_media

    ref = await store_media(context, data_or_value, name="x.png", content_type="image/png")
    media = await read_media(context, ref)        # Media(data, name, content_type)

The bytes live in a blob store chosen by ``WORKBENCH_FILE_STORE_URL`` (a folder, by default
``<WORKBENCH_HOME>/files``, or an S3-compatible bucket: :mod:`.backends`); the records in PostgreSQL,
or in JSON sidecars next to the blobs when there is no database (:mod:`.sidecar`). The rules (size
limit, names, types, who sees what, virus scanning) are the file service's: ``workbench.services.files``;
the scanner (ClamAV's clamd, ``WORKBENCH_FILE_SCAN``) is :mod:`.scanning`.
"""

from __future__ import annotations

from workbench.files.backends import BlobNotFound, BlobStore, LocalBlobStore, S3BlobStore, open_blob_store
from workbench.files.media import FileStore, Media, decode_data_uri, read_media, store_media, to_data_uri
from workbench.files.model import (
    WORKSPACE_SCHEME,
    FileIndex,
    FileRecord,
    FileTooLarge,
    is_ref,
    make_ref,
    parse_ref,
    sanitize_name,
    sniff_content_type,
)
from workbench.files.scanning import FileInfected, FileScanner, ScannerUnavailable, open_scanner
from workbench.files.sidecar import SidecarIndex

__all__ = [
    "WORKSPACE_SCHEME",
    "BlobNotFound",
    "BlobStore",
    "FileIndex",
    "FileInfected",
    "FileRecord",
    "FileScanner",
    "FileStore",
    "FileTooLarge",
    "LocalBlobStore",
    "Media",
    "S3BlobStore",
    "ScannerUnavailable",
    "SidecarIndex",
    "decode_data_uri",
    "is_ref",
    "make_ref",
    "open_blob_store",
    "open_scanner",
    "parse_ref",
    "read_media",
    "sanitize_name",
    "sniff_content_type",
    "store_media",
    "to_data_uri",
]
