"""What a stored file is: its record, its ``workspace://`` reference, and the rules for names and types.

A file is kept per user under a storage key ``<user id>/<file id>``; blocks and the API pass it around as
``workspace://<file id>`` (the owner is always the caller, so the reference carries no user).
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from workbench.errors import InputError

WORKSPACE_SCHEME = "workspace://"
"""The prefix of a stored file's reference: ``workspace://<file id>``."""
MAX_NAME_LENGTH = 255
DEFAULT_TYPE = "application/octet-stream"
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')


class FileTooLarge(InputError):
    """A file over the store's size limit (``WORKBENCH_FILE_MAX_BYTES``); a 413 at the API."""

    http_status = 413
    error_code = "payload_too_large"

    def __init__(self, size: int | None, limit: int | None, message: str | None = None) -> None:
        self.size = size
        self.limit = limit
        said = f" ({size} bytes)" if size is not None else ""
        super().__init__(
            message or f"the file is too large{said}: the limit is {limit} bytes (WORKBENCH_FILE_MAX_BYTES)"
        )


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One stored file's metadata (its bytes are in the blob store under ``storage_key``)."""

    id: str
    user_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    created_at: datetime
    graph_execution_id: str | None = None

    @property
    def ref(self) -> str:
        """The file's reference: ``workspace://<id>``."""
        return make_ref(self.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``created_at`` as ISO 8601), as the sidecar keeps them."""
        doc = asdict(self)
        doc["created_at"] = self.created_at.isoformat()
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FileRecord:
        """The record :meth:`to_dict` wrote."""
        fields = dict(doc)
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        return cls(**fields)


class FileIndex(Protocol):
    """Where file records live: PostgreSQL (``workbench.store.files``) or JSON sidecars (no database).

    Every lookup is scoped by the user: another user's file is simply not there (None).
    """

    async def add(self, record: FileRecord) -> None:
        """Store a new record."""
        ...

    async def get(self, file_id: str, user_id: str) -> FileRecord | None:
        """The user's file ``file_id``, or None."""
        ...

    async def list(self, user_id: str, *, limit: int, offset: int) -> tuple[Sequence[FileRecord], int]:
        """A page of the user's files, newest first, and how many there are in all."""
        ...

    async def remove(self, file_id: str, user_id: str) -> FileRecord | None:
        """Forget the user's file ``file_id``; the record it was, or None."""
        ...


def make_ref(file_id: str) -> str:
    """``workspace://<file_id>``."""
    return f"{WORKSPACE_SCHEME}{file_id}"


def is_ref(value: object) -> bool:
    """Whether ``value`` is a ``workspace://`` reference (well formed or not)."""
    return isinstance(value, str) and value.startswith(WORKSPACE_SCHEME)


def parse_ref(value: str) -> str:
    """The file id of ``workspace://<id>`` (a ``#fragment``, as AutoGPT adds the type, is ignored);
    InputError when it names no file id."""
    raw = value[len(WORKSPACE_SCHEME) :] if value.startswith(WORKSPACE_SCHEME) else value
    raw = raw.split("#", 1)[0].strip("/")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InputError(f"not a file reference: {value[:80]!r} (expected workspace://<file id>)") from None


def file_id_or_none(value: str) -> str | None:
    """``value`` as a canonical file id, or None when it is not a UUID (so it names no file)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def clean_media_type(value: str | None) -> str:
    """The bare, lower-case media type of ``value`` (parameters dropped); "" when it is not one."""
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind if _MEDIA_TYPE.match(kind) else ""


def sanitize_name(name: str | None, content_type: str = "") -> str:
    """A safe file name: its last path part, no control or reserved characters, no leading dots, at
    most 255 characters (keeping the extension); ``file`` plus an extension for the type when empty."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_NAME_CHARS.sub("_", text).strip().lstrip(".").strip()
    if not text:
        ext = mimetypes.guess_extension(content_type) if content_type else None
        text = "file" + (ext or "")
    if len(text) > MAX_NAME_LENGTH:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            text = stem[: MAX_NAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            text = text[:MAX_NAME_LENGTH]
    return text


_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
)


def sniff_content_type(data: bytes, name: str = "") -> str:
    """The media type of ``data``: by its first bytes (images, PDF, audio, video, archives), else by
    the name's extension, else ``text/plain`` for UTF-8 text, else ``application/octet-stream``."""
    head = data[:64]
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:3] == b"ID3" and len(head) > 3 and head[3] in (2, 3, 4):
        return "audio/mpeg"
    if head[:2] == b"BM" and head[6:10] == b"\0\0\0\0":  # reserved bytes: "BMW..." stays text
        return "image/bmp"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}[head[8:12]]
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:11] == b"M4A" else "video/mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "audio/mpeg"  # an MPEG audio frame without an ID3 tag
    guessed = mimetypes.guess_type(name, strict=False)[0] if name else None
    if guessed:
        return guessed
    sample = data[:4096]
    if b"\x00" not in sample:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 3:  # not just a character cut at the sample's end
                return DEFAULT_TYPE
        stripped = sample.lstrip().lower()
        if stripped.startswith((b"<!doctype html", b"<html")):
            return "text/html"
        if stripped.startswith(b"<svg") or (stripped.startswith(b"<?xml") and b"<svg" in stripped):
            return "image/svg+xml"
        return "text/plain"
    return DEFAULT_TYPE
