"""What blocks call: keep a file in the store (:func:`store_media`), read one back (:func:`read_media`).

A file value, as AutoGPT's ``MediaFileType`` pins carry it, is one of:

- ``workspace://<file id>``: a file in the store, the caller's own (another user's is not found);
- ``data:<type>;base64,<data>`` (or a percent-encoded ``data:`` URI);
- an ``http(s)://`` URL, downloaded through :func:`workbench.net.safe_client` (private addresses are
  refused unless the configuration allows them; the body is capped at ``WORKBENCH_HTTP_MAX_BYTES``).

Both functions reach the platform's file store as ``context.service("files")`` (registered by the
Workbench, with or without a database). Everything a user can get wrong is a
:class:`~workbench.errors.BlockError` that says what was expected.

With scanning on (``WORKBENCH_FILE_SCAN``), what comes from outside is scanned before the block gets
it: a file stored by :func:`store_media` when it is stored, a ``data:`` URI or a download that
:func:`read_media` returns without storing it as it is read (a stored file was scanned when it was
stored). An infected file fails the node naming what was found; a scanner that cannot answer is a
:class:`~workbench.errors.RetryableError` (the node is tried again).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from workbench.block.context import RunContext
from workbench.errors import (
    BlockError,
    InputError,
    LimitExceeded,
    NotFoundError,
    RetryableError,
    WorkbenchError,
)
from workbench.files.model import (
    DEFAULT_TYPE,
    FileRecord,
    FileTooLarge,
    clean_media_type,
    is_ref,
    parse_ref,
    sanitize_name,
    sniff_content_type,
)
from workbench.files.scanning import FileInfected, ScannerUnavailable

SERVICE = "files"
"""The name the file store is registered under in ``BlockServices.named``."""
_WHITESPACE = re.compile(r"\s+")


class FileStore(Protocol):
    """What blocks need of the file service (``workbench.services.files.FileService``)."""

    async def put(
        self,
        user_id: str,
        data: bytes,
        *,
        name: str = "",
        content_type: str = "",
        graph_execution_id: str | None = None,
    ) -> FileRecord:
        """Store ``data`` as a new file of the user."""
        ...

    async def get(self, file_id: str, user_id: str) -> FileRecord:
        """The user's file record (NotFoundError otherwise)."""
        ...

    async def read(self, file_id: str, user_id: str) -> tuple[FileRecord, bytes]:
        """The user's file record and bytes (NotFoundError otherwise)."""
        ...

    async def check(self, data: bytes | str, name: str = "") -> None:
        """Scan outside content before it is used (FileInfected / ScannerUnavailable otherwise)."""
        ...


@dataclass(frozen=True, slots=True)
class Media:
    """A file's bytes with its name and media type."""

    data: bytes
    name: str
    content_type: str

    def data_uri(self) -> str:
        """The file as a ``data:<type>;base64,...`` URI."""
        return to_data_uri(self.data, self.content_type)

    def text(self) -> str:
        """The bytes as text: UTF-8, else Latin-1 (which reads any bytes), as AutoGPT does."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return self.data.decode("latin-1")


def to_data_uri(data: bytes, content_type: str = DEFAULT_TYPE) -> str:
    """``data:<content_type>;base64,<data>``."""
    return f"data:{content_type or DEFAULT_TYPE};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """``(media type, bytes)`` of a ``data:`` URI; BlockError saying what is wrong otherwise."""
    if not uri.startswith("data:") or "," not in uri:
        raise BlockError(f"not a data: URI (expected data:<type>;base64,<data>): {uri[:60]!r}")
    header, _, payload = uri[5:].partition(",")
    parts = [p.strip() for p in header.split(";")]
    kind = clean_media_type(parts[0]) if parts[0] else "text/plain"
    if "base64" in (p.lower() for p in parts[1:]):
        text = _WHITESPACE.sub("", unquote(payload))
        text += "=" * (-len(text) % 4)
        try:  # the standard alphabet, or the URL-safe one
            return kind, base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise BlockError("the data: URI says base64, but its data is not valid base64") from None
    return kind, unquote_to_bytes(payload)


def _files(context: RunContext) -> FileStore:
    return context.service(SERVICE)


def _execution_id(context: RunContext) -> str | None:
    try:
        return str(uuid.UUID(context.graph_execution_id)) if context.graph_execution_id else None
    except ValueError:
        return None


def _refused(exc: WorkbenchError) -> BlockError:
    """A scanner's refusal as the node's failure: an outage is worth another try, the rest is not."""
    if isinstance(exc, ScannerUnavailable):
        return RetryableError(str(exc))
    if isinstance(exc, FileTooLarge):
        return LimitExceeded(str(exc), "size")
    return BlockError(str(exc))


async def _check(context: RunContext, media: Media) -> None:
    """Scan outside content a block reads without storing it (when the run has a file service)."""
    files = context.services.named.get(SERVICE) if context.services is not None else None
    if files is None:
        return
    try:
        await files.check(media.data, media.name)
    except (FileInfected, ScannerUnavailable, FileTooLarge) as exc:
        raise _refused(exc) from exc


def _not_found(value: str) -> BlockError:
    return BlockError(f"no file {value[:80]!r}: it was deleted, or it is not one of your files")


async def _download(context: RunContext, url: str) -> Media:
    """GET ``url`` through the guarded client: its bytes, a name from its path, its type."""
    from workbench.net import safe_client  # httpx: imported when a block first downloads

    async with safe_client(context.settings) as http:
        result = await http.request("GET", url)
    if result.status_code == 429 or result.status_code >= 500:
        raise RetryableError(f"downloading {url} failed: HTTP {result.status_code} (try again later)")
    if result.status_code >= 300:
        raise BlockError(f"downloading {url} failed: HTTP {result.status_code}")
    name = unquote(urlsplit(result.url or url).path.rsplit("/", 1)[-1])
    return Media(result.content, name, clean_media_type(result.headers.get("content-type")))


async def _resolve(context: RunContext, value: object) -> Media | str:
    """The bytes a value stands for, or the file id of a stored file (not read)."""
    if isinstance(value, Media):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return Media(bytes(value), "", "")
    if not isinstance(value, str):
        raise BlockError(
            f"expected a file (a workspace:// reference, a data: URI or an http(s) URL), "
            f"got {type(value).__name__}"
        )
    text = value.strip()
    if is_ref(text):
        try:
            return parse_ref(text)
        except InputError:
            raise _not_found(text) from None
    if text.startswith("data:"):
        kind, data = decode_data_uri(text)
        return Media(data, "", kind)
    if text.lower().startswith(("http://", "https://")):
        return await _download(context, text)
    raise BlockError(
        f"expected a file as a workspace:// reference, a data: URI or an http(s) URL, got {text[:60]!r} "
        "(local paths are not read)"
    )


async def store_media(context: RunContext, value: object, *, name: str = "", content_type: str = "") -> str:
    """Keep ``value`` in the user's file store and return its ``workspace://<id>`` reference.

    ``value``: bytes, a :class:`Media`, a ``data:`` URI, an ``http(s)`` URL (downloaded), or an existing
    ``workspace://`` reference (checked to be the user's, returned as it is, not copied). ``name`` and
    ``content_type`` override what the value says; a missing type is sniffed from the bytes.
    """
    found = await _resolve(context, value)
    files = _files(context)
    if isinstance(found, str):
        try:
            record = await files.get(found, context.user_id)
        except NotFoundError:
            raise _not_found(str(value)) from None
        return record.ref
    kind = clean_media_type(content_type) or found.content_type
    try:
        record = await files.put(
            context.user_id,
            found.data,
            name=name or found.name,
            content_type=kind,
            graph_execution_id=_execution_id(context),
        )
    except (FileInfected, ScannerUnavailable, FileTooLarge) as exc:
        raise _refused(exc) from exc
    return record.ref


async def read_media(context: RunContext, value: object) -> Media:
    """The bytes, name and type of a file value: a ``workspace://`` reference (the user's own), a
    ``data:`` URI, an ``http(s)`` URL (downloaded), bytes or a :class:`Media`.

    Only a reference needs the file store; a type the value does not give is sniffed from the bytes.
    """
    found = await _resolve(context, value)
    if isinstance(found, str):
        try:
            record, data = await _files(context).read(found, context.user_id)
        except NotFoundError:
            raise _not_found(str(value)) from None
        return Media(data, record.name, record.content_type)
    kind = found.content_type if found.content_type not in ("", DEFAULT_TYPE) else ""
    kind = kind or sniff_content_type(found.data, found.name)
    media = Media(found.data, sanitize_name(found.name, kind), kind)
    await _check(context, media)
    return media
