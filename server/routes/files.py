"""/api/v1/files: your files (uploads, and what blocks stored), named ``workspace://<id>`` in graphs.

Upload with multipart/form-data (field ``file``; optional fields ``name`` and ``content_type``). A file
larger than ``WORKBENCH_FILE_MAX_BYTES`` is a 413, refused as soon as the body says or shows it is;
this route does not use the server's general body limit (``WORKBENCH_MAX_BODY_SIZE``), the file
store's own applies. Another user's file is a 404, exactly as an unknown id is.

With ``WORKBENCH_FILE_SCAN=on`` the file is stored, scanned by ClamAV's clamd, and listed only when
clean: an infected file is a 422 (code ``file_infected``, naming what was found) and is not kept; a
scanner that cannot answer is a 503 (code ``scanner_unavailable``) and nothing is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, Parameter
from litestar.types import Message
from pydantic import BaseModel, Field

from server.deps import caller, errors, workbench_of
from server.schemas import ErrorOut, Page
from server.uploads import body_type, form_with_file
from workbench.files import FileRecord, FileTooLarge
from workbench.services.files import FileService

FORM_OVERHEAD = 64 * 1024
"""Room for the multipart framing and the small fields around the file, above the file limit."""
_UNSUPPORTED = ResponseSpec(
    data_container=ErrorOut,
    description="Unsupported media type: send multipart/form-data.",
    generate_examples=False,
)


class FileOut(BaseModel):
    """A stored file's metadata."""

    id: str
    ref: str = Field(description="How graphs and blocks name it: `workspace://<id>`.")
    name: str
    content_type: str
    size: int = Field(description="Bytes.")
    sha256: str
    graph_execution_id: str | None = Field(description="The run that stored it, if a block did.")
    created_at: datetime


def file_out(record: FileRecord) -> FileOut:
    """The API form of a file record."""
    return FileOut(
        id=record.id,
        ref=record.ref,
        name=record.name,
        content_type=record.content_type,
        size=record.size,
        sha256=record.sha256,
        graph_execution_id=record.graph_execution_id,
        created_at=record.created_at,
    )


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _service(request: Request[Any, Any, Any]) -> FileService:
    return FileService.of(workbench_of(request))


def _limit_body(request: Request[Any, Any, Any], max_bytes: int) -> None:
    """Refuse a body larger than the file limit allows: at once when Content-Length says so, else as
    soon as more than that has arrived (a chunked upload), before it is all read."""
    limit = max_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FileTooLarge(None, max_bytes)
    receive = request.receive
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise FileTooLarge(None, max_bytes)
        return message

    request.receive = counted  # type: ignore[assignment]


async def _upload(request: Request[Any, Any, Any], max_bytes: int) -> tuple[bytes, str, str]:
    """The uploaded file's bytes, name and declared type (``""`` when the client declared none)."""
    if body_type(request) != "multipart/form-data":
        raise HTTPException(status_code=415, detail="upload a file as multipart/form-data (field 'file')")
    _limit_body(request, max_bytes)
    form, upload = await form_with_file(request)
    data = await upload.read()
    name = form.get("name") if isinstance(form.get("name"), str) else ""
    declared = form.get("content_type") if isinstance(form.get("content_type"), str) else ""
    if not declared and "content-type" in {k.lower() for k in upload.headers}:
        declared = upload.content_type  # Litestar reports text/plain when the part has no type
    return data, str(name or upload.filename or ""), str(declared or "")


class FileController(Controller):
    """Your files: upload, list, download, delete."""

    path = "/files"
    tags = ["files"]
    request_max_body_size = None  # the upload route applies the file store's limit itself

    @post(
        "/",
        status_code=201,
        responses={**errors(413, 422, 503), 415: _UNSUPPORTED},
        summary="Upload a file",
        description="multipart/form-data with `file`, and optionally `name` (default: the upload's "
        "file name) and `content_type` (default: the upload's type, else sniffed from the bytes). With "
        "virus scanning on, an infected file is a 422 with code `file_infected` naming what was found, "
        "and a scanner that cannot answer a 503 with code `scanner_unavailable`; neither is kept.",
    )
    async def upload(self, request: Request[Any, Any, Any]) -> FileOut:
        """Keep a file; its `ref` (`workspace://<id>`) can be given to any file input of a graph."""
        principal = caller(request, "files:write")
        service = _service(request)
        data, name, content_type = await _upload(request, service.max_bytes)
        record = await service.put(principal.user_id, data, name=name, content_type=content_type)
        return file_out(record)

    @get("/", responses=errors(), summary="List files")
    async def list_files(
        self,
        request: Request[Any, Any, Any],
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[FileOut]:
        """Your files, newest first."""
        principal = caller(request, "files:read")
        items, total = await _service(request).list(principal.user_id, limit=limit, offset=offset)
        return Page(items=[file_out(f) for f in items], total=total, limit=limit, offset=offset)

    @get("/{file_id:uuid}", responses=errors(404), summary="Get a file's metadata")
    async def get_file(self, request: Request[Any, Any, Any], file_id: FromPath[UUID]) -> FileOut:
        """Name, type, size, checksum of one of your files."""
        principal = caller(request, "files:read")
        return file_out(await _service(request).get(str(file_id), principal.user_id))

    @get(
        "/{file_id:uuid}/content",
        responses={
            200: ResponseSpec(data_container=bytes, description="The file's bytes.", generate_examples=False),
            **errors(404),
        },
        summary="Download a file",
    )
    async def download(self, request: Request[Any, Any, Any], file_id: FromPath[UUID]) -> Response[bytes]:
        """The file's bytes, as an attachment (never rendered by the browser)."""
        principal = caller(request, "files:read")
        record, data = await _service(request).read(str(file_id), principal.user_id)
        return Response(
            data,
            media_type=record.content_type,
            headers={
                "Content-Disposition": content_disposition(record.name),
                "X-Content-Type-Options": "nosniff",
            },
        )

    @delete("/{file_id:uuid}", status_code=204, responses=errors(404), summary="Delete a file")
    async def delete_file(self, request: Request[Any, Any, Any], file_id: FromPath[UUID]) -> None:
        """Delete one of your files (references to it in graphs stop working)."""
        principal = caller(request, "files:write")
        await _service(request).delete(str(file_id), principal.user_id)
