"""``client.files``: your files in the file store, the same on both transports::

    info = wb.files.upload(Path("photo.png"))       # or bytes, with name=...
    wb.run(graph, {"picture": info.ref})            # workspace://<id>, what file inputs take
    data = wb.files.download(info.id)               # the bytes
    wb.files.list(); wb.files.delete(info.id)

Files are named by id or by their ``workspace://<id>`` reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import httpx

from workbench.client.types import when
from workbench.errors import ServerError
from workbench.files.model import FileTooLarge, is_ref, make_ref, parse_ref

if TYPE_CHECKING:
    from workbench.services.files import FileService

FileContent = bytes | Path | str
"""What ``upload`` takes: the bytes, or a file's path (``str`` or ``Path``)."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A stored file's metadata."""

    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    graph_execution_id: str | None
    created_at: datetime | None

    @property
    def ref(self) -> str:
        """``workspace://<id>``: how graphs and blocks name the file."""
        return make_ref(self.id)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FileInfo:
        """From a ``FileRecord``'s fields or the API's file."""
        return cls(
            id=str(doc["id"]),
            name=doc["name"],
            content_type=doc["content_type"],
            size=int(doc["size"]),
            sha256=doc["sha256"],
            graph_execution_id=doc.get("graph_execution_id"),
            created_at=when(doc.get("created_at")),
        )


class LocalHost(Protocol):
    """What :class:`LocalFiles` needs of the local client."""

    wb: Any
    user_id: str


class RemoteHost(Protocol):
    """What :class:`RemoteFiles` needs of the remote client."""

    url: str
    _http: httpx.AsyncClient | None


def file_id(ref: str) -> str:
    """The id of ``ref`` (a file id or a ``workspace://`` reference); unchanged when not a reference."""
    return parse_ref(ref) if is_ref(ref) else ref


def _content(content: FileContent, name: str | None) -> tuple[bytes, str]:
    if isinstance(content, bytes | bytearray):
        return bytes(content), name or ""
    path = Path(content).expanduser()
    return path.read_bytes(), name or path.name


class AsyncFiles(ABC):
    """The file operations of an async client."""

    @abstractmethod
    async def upload(
        self, content: FileContent, *, name: str | None = None, content_type: str | None = None
    ) -> FileInfo:
        """Keep a file: ``bytes``, or the path of a file (its name is the default ``name``); the type
        is ``content_type``, else sniffed from the bytes and the name."""

    @abstractmethod
    async def list(self) -> list[FileInfo]:
        """Your files, newest first."""

    @abstractmethod
    async def get(self, ref: str) -> FileInfo:
        """One file's metadata."""

    @abstractmethod
    async def download(self, ref: str) -> bytes:
        """One file's bytes."""

    @abstractmethod
    async def delete(self, ref: str) -> None:
        """Delete one of your files."""


class LocalFiles(AsyncFiles):
    """Files through the file service of the local client's Workbench."""

    def __init__(self, client: LocalHost) -> None:
        self.client = client

    def _service(self) -> FileService:
        from workbench.services.files import FileService

        return FileService.of(self.client.wb)

    async def upload(
        self, content: FileContent, *, name: str | None = None, content_type: str | None = None
    ) -> FileInfo:
        """Keep a file."""
        data, file_name = _content(content, name)
        record = await self._service().put(
            self.client.user_id, data, name=file_name, content_type=content_type or ""
        )
        return FileInfo.from_dict(record.to_dict())

    async def list(self) -> list[FileInfo]:
        """Your files, newest first."""
        service, found = self._service(), []
        while True:
            items, total = await service.list(self.client.user_id, limit=500, offset=len(found))
            found += [FileInfo.from_dict(r.to_dict()) for r in items]
            if not items or len(found) >= total:
                return found

    async def get(self, ref: str) -> FileInfo:
        """One file's metadata."""
        record = await self._service().get(file_id(ref), self.client.user_id)
        return FileInfo.from_dict(record.to_dict())

    async def download(self, ref: str) -> bytes:
        """One file's bytes."""
        _, data = await self._service().read(file_id(ref), self.client.user_id)
        return data

    async def delete(self, ref: str) -> None:
        """Delete a file."""
        await self._service().delete(file_id(ref), self.client.user_id)


class RemoteFiles(AsyncFiles):
    """Files through a server's ``/api/v1/files``."""

    def __init__(self, client: RemoteHost, raise_for: Callable[[httpx.Response], None]) -> None:
        """``raise_for`` turns an error response into the exception the local transport raises."""
        self.client = client
        self._raise_for = raise_for

    @staticmethod
    def _path(ref: str) -> str:
        return "/files/" + quote(file_id(ref), safe="")

    async def upload(
        self, content: FileContent, *, name: str | None = None, content_type: str | None = None
    ) -> FileInfo:
        """Send a multipart upload."""
        data, file_name = _content(content, name)
        form = {"name": file_name} if file_name else {}
        if content_type:
            form["content_type"] = content_type
        upload = (file_name or "file", data, content_type or "application/octet-stream")
        response = await self._send("POST", "/files", data=form, files={"file": upload})
        if response.status_code == 413:
            message = _message(response) or "the file is too large for the server"
            raise FileTooLarge(len(data), None, message)
        return FileInfo.from_dict(self._json(response))

    async def list(self) -> list[FileInfo]:
        """Your files on the server, newest first."""
        found: list[FileInfo] = []
        while True:
            page = self._json(await self._send("GET", "/files", params={"limit": 500, "offset": len(found)}))
            found += [FileInfo.from_dict(f) for f in page["items"]]
            if not page["items"] or len(found) >= page["total"]:
                return found

    async def get(self, ref: str) -> FileInfo:
        """One file's metadata."""
        return FileInfo.from_dict(self._json(await self._send("GET", self._path(ref))))

    async def download(self, ref: str) -> bytes:
        """One file's bytes."""
        response = await self._send("GET", self._path(ref) + "/content")
        self._check(response)
        return response.content

    async def delete(self, ref: str) -> None:
        """Delete a file on the server."""
        self._check(await self._send("DELETE", self._path(ref)))

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        http = self.client._http
        if http is None:
            raise RuntimeError("RemoteClient.start() has not been called")
        try:
            return await http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach the workbench server at {self.client.url}: {exc}") from exc

    def _check(self, response: httpx.Response) -> None:
        self._raise_for(response)

    def _json(self, response: httpx.Response) -> Any:
        self._check(response)
        return response.json()


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


class BlockingFiles:
    """``client.files`` of the blocking client: each call runs in the client's own thread."""

    def __init__(
        self, inner: Callable[[], AsyncFiles], call: Callable[[Coroutine[Any, Any, Any]], Any]
    ) -> None:
        self._inner = inner
        self._call = call

    def upload(
        self, content: FileContent, *, name: str | None = None, content_type: str | None = None
    ) -> FileInfo:
        """Keep a file (see :meth:`AsyncFiles.upload`)."""
        return self._call(self._inner().upload(content, name=name, content_type=content_type))

    def list(self) -> list[FileInfo]:
        """Your files, newest first."""
        return self._call(self._inner().list())

    def get(self, ref: str) -> FileInfo:
        """One file's metadata."""
        return self._call(self._inner().get(ref))

    def download(self, ref: str) -> bytes:
        """One file's bytes."""
        return self._call(self._inner().download(ref))

    def delete(self, ref: str) -> None:
        """Delete a file."""
        self._call(self._inner().delete(ref))
